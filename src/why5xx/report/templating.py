"""The template environments of the shared reports (HTML, Markdown).

Both render documents of the JSON contract (`Report.to_json()` and kin),
never the model objects: what a person reads in a ticket is what a script
reads from `-o json`. Every value a template prints is escaped for where it
lands, because object names, annotations, event messages and log lines are
text an attacker can choose: HTML with Jinja's autoescaping, Markdown with
`finalize` escaping what a filter has not already made safe.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jinja2
import markupsafe


class MarkdownSafe(markupsafe.Markup):
    """Markdown a filter or macro built already (a code span, a fence, a
    block): printed as is. A `Markup`, so that Jinja's autoescaping, which
    the Markdown environment turns on, leaves it alone."""

    __slots__ = ()


# Characters that start Markdown syntax inside a line (emphasis, links, code,
# tables, strikethrough, autolinks, raw HTML), and `\\` itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!])")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKTICKS = re.compile(r"`+")


def md_text(value: object) -> str:
    """`value` as Markdown text that renders as itself, on one line."""
    text = " ".join(str(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return "".join(_HTML_SPECIAL.get(c, c) for c in text)


def _fence_for(text: str, shortest: int) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(shortest, longest + 1)


def md_code(value: object) -> MarkdownSafe:
    """An inline code span that holds `value` verbatim (on one line); `|` is
    escaped, since GitHub ends a table cell there even inside code."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    fence = _fence_for(text, 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return MarkdownSafe(f"{fence}{pad}{text}{pad}{fence}")


def md_fence(value: object, language: str = "") -> MarkdownSafe:
    """A fenced code block holding `value` (a string, or lines) verbatim, its
    fence longer than any run of backticks inside."""
    lines = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    text = "\n".join(str(line) for line in lines).rstrip("\n")
    fence = _fence_for(text, 3)
    return MarkdownSafe(f"{fence}{language}\n{text}\n{fence}")


def md_html(value: object) -> MarkdownSafe:
    """Text inside raw HTML of a Markdown document (`<summary>`), where
    Markdown escapes would show: HTML-escaped, on one line."""
    return MarkdownSafe(markupsafe.escape(" ".join(str(value).split())))


def _md_finalize(value: Any) -> markupsafe.Markup:
    """Every printed value that no filter or macro built is Markdown-escaped;
    the environment's autoescaping then leaves the result alone."""
    if isinstance(value, markupsafe.Markup):
        return value
    if value is None or isinstance(value, jinja2.Undefined):
        return MarkdownSafe("")
    return MarkdownSafe(md_text(value))


def _codes(statuses: Any) -> str:
    return "/".join(str(code) for code in statuses or ())


def _percent(share: Any) -> str:
    return f"{float(share):.0%}"


def _loader() -> jinja2.BaseLoader:
    return jinja2.PackageLoader("why5xx.report", "templates")


@cache
def markdown_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_loader(),
        # On, so that macro and filter output is Markup and passes finalize as built.
        autoescape=True,
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters |= {
        "code": md_code,
        "fence": md_fence,
        "html": md_html,
        "raw": MarkdownSafe,
        "codes": lambda s: MarkdownSafe(_codes(s)),
        "percent": lambda s: MarkdownSafe(_percent(s)),
    }
    return env


@cache
def html_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_loader(),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters |= {"codes": _codes, "percent": _percent}
    return env
