"""One line of any known kind: what people paste is rarely one format.

`kubectl logs` of an ingress-nginx controller interleaves access lines,
nginx error lines and the controller's klog lines; an istio-proxy log holds
access lines and Envoy's debug lines; lines come behind `kubectl --prefix`
or stern prefixes. A file whose format the first lines name streams through
that format's byte-level pre-filter; only the lines it does not shape come
here, one by one. A file of no single format comes here whole.
"""

from __future__ import annotations

from collections.abc import Callable

from why5xx.sources.logs import prefix
from why5xx.sources.logs.reader import LogFormat, MessageFormat, Other
from why5xx.sources.logs.record import Notice, Record


def recogniser(
    formats: tuple[LogFormat, ...],
    messages: tuple[MessageFormat, ...],
    sink: Callable[[Record], None],
) -> Other:
    """A function that recognises one line, gives its record (if it says
    anything about a backend) to `sink` and returns the name of the format
    or family that wrote it (None: no one known)."""

    def known(text: str, stripped: prefix.Stripped) -> str | None:
        family = None
        for message in messages:
            if message.shape.search(text) is None:
                continue
            try:
                record = message.parse(text)
            except ValueError:  # malformed (a date that does not exist): not this family
                continue
            if record is not None:
                if isinstance(record, Notice):
                    record = record.with_context(time=stripped.time, pod=stripped.pod)
                sink(record)
                return message.name
            family = family or message.name
        encoded = text.encode()
        for fmt in formats:
            for kind in fmt.kinds:
                if kind.shaped(encoded):
                    try:
                        record = kind.parse(text)
                    except ValueError:  # malformed: counted as unparsed
                        return family
                    if record is not None:
                        sink(record)
                    return fmt.name
        return family

    def recognise(line: str) -> str | None:
        stripped = prefix.strip(line)
        found = known(stripped.line, stripped)
        if found is None and stripped.line != line:
            found = known(line, prefix.Stripped(line, "", None))
        return found

    return recognise
