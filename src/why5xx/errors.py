"""The one error a user sees as a line: input that cannot be used."""


class InputError(Exception):
    """Bad usage or unusable input (a missing file, an unknown target, a
    cluster that refuses access): the message is one line that says what to
    do. The CLI prints it and exits 2; the API raises it as `Why5xxError`."""
