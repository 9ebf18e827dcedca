"""Self-contained HTML reports: one file to attach to a ticket or open from
a chat, with nothing fetched at view time (inline CSS, one inline script for
the copy buttons, the timeline as inline SVG drawn here). Templates over the
JSON documents (`templates/*.html.j2`) with Jinja's autoescaping; the JSON
document itself is embedded, so the page carries its source of truth.

A Content-Security-Policy lets the page load nothing and run no script but
its own (pinned by hash): defence in depth under the escaping.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

import markupsafe
import orjson

from why5xx.logmodel import LogSummary
from why5xx.model import Report
from why5xx.report.svg import layout
from why5xx.report.templating import html_env
from why5xx.version import __version__

# Copy buttons (shown only when this runs), and every <details> opened for print.
_SCRIPT = """(function () {
  "use strict";
  function source(button) {
    return document.getElementById(button.getAttribute("data-copy"));
  }
  function done(button, ok) {
    button.textContent = ok ? "Copied" : "Select and copy";
    button.classList.toggle("done", ok);
    setTimeout(function () {
      button.textContent = "Copy";
      button.classList.remove("done");
    }, 1600);
  }
  function fallback(button) {
    var range = document.createRange();
    range.selectNodeContents(source(button));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    done(button, ok);
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source(button).textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { done(button, true); },
          function () { fallback(button); });
      } else {
        fallback(button);
      }
    });
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();"""


@cache
def _script_hash() -> str:
    digest = hashlib.sha256(_SCRIPT.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _embedded(document: dict[str, Any]) -> markupsafe.Markup:
    """JSON inside <script>: no `<`, `>` or `&` that could end the element."""
    text = orjson.dumps(document).decode()
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return markupsafe.Markup(text)  # escaped for a script element above


def _render(template: str, document: dict[str, Any], **context: Any) -> str:
    env = html_env()
    env.globals["timeline_layout"] = layout
    return env.get_template(template).render(
        doc=document,
        schema=document["schema"],
        document_json=_embedded(document),
        script=markupsafe.Markup(_SCRIPT),  # our own constant
        script_hash=_script_hash(),
        version=__version__,
        **context,
    )


def render_report(report: Report) -> str:
    return _render("diagnosis.html.j2", report.to_json())


def _counts(statuses: Sequence[str]) -> str:
    counted = Counter(statuses)
    return ", ".join(f"{n} {status}" for status, n in counted.items())


def render_reports(reports: Sequence[Report]) -> str:
    """`--all`: a table of every Service, worst first, each linking to its report."""
    document: dict[str, Any] = {
        "schema": "why5xx/diagnosis-list/v1",
        "reports": [r.to_json() for r in reports],
    }
    return _render(
        "diagnosis-list.html.j2",
        document,
        counts=_counts([d["status"] for d in document["reports"]]),
    )


def render_logs(summary: LogSummary, timeline: dict[str, Any] | None) -> str:
    """`why5xx logs -o html`: the `why5xx/logs/v1` document; `timeline` is
    its 5xx and events as a report timeline (`why5xx.timeline.from_logs`)."""
    return _render("logs.html.j2", summary.to_json(), timeline=timeline)
