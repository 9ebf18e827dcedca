"""Human output of `why5xx logs`: the 5xx count and its split first, then
each cause with its signal, upstreams (and their pods), time span and one
raw line; then the 5xx over time beside the cluster's events, and what the
logs and the cluster say together. Rich renderables; the CLI prints them."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from why5xx.logmodel import (
    UNCLASSIFIED,
    CauseSummary,
    LogSummary,
    MessageSummary,
    Timeline,
    UpstreamCount,
)
from why5xx.scrub import scrub

_BARS = "▁▂▃▄▅▆▇█"
_EXAMPLE_WIDTH = 220
_SERVICE_WIDTH = 36


def _statuses(pairs: tuple[tuple[int, int], ...]) -> str:
    return " · ".join(f"{status} x{count:,}" for status, count in pairs)


def _headline(summary: LogSummary) -> Text:
    line = Text()
    style = "bold red" if summary.total_5xx else "bold green"
    line.append(f"{summary.total_5xx:,} 5xx", style=style)
    files = len(summary.files)
    line.append(f" in {summary.lines:,} lines ({files} file{'s' if files != 1 else ''})")
    if summary.by_status:
        line.append(": " + _statuses(summary.by_status), style="bold")
    return line


def _files(summary: LogSummary) -> list[RenderableType]:
    out: list[RenderableType] = []
    for file in summary.files:
        line = Text("  ")
        line.append(file.path, style="cyan")
        line.append(f"  {file.format}  {file.lines:,} lines")
        recognised = sum(n for _, n in file.recognised)
        if len(file.recognised) > 1 or recognised != file.lines - file.unparsed:
            kinds = ", ".join(f"{name} {n:,}" for name, n in file.recognised)
            line.append(f", {recognised:,} recognised ({kinds})")
        if file.unparsed:
            line.append(f", {file.unparsed:,} unparsed", style="yellow")
        if file.error:
            line.append(f"  ({file.error})", style="red")
        out.append(line)
    return out


def _upstream(upstream: UpstreamCount) -> Text:
    line = Text("      ")
    line.append(f"{upstream.address:<22}", style="cyan")
    line.append(f"{upstream.count:>7,}")
    pod = upstream.pod
    if pod is not None:
        line.append(f"  {pod.ref}")
        detail = [pod.state]
        if pod.revision is not None:
            detail.append(("old revision " if pod.current is False else "revision ") + pod.revision)
        line.append(f" ({', '.join(detail)})", style="dim")
    return line


def _cause(cause: CauseSummary) -> list[RenderableType]:
    head = Text("  ")
    head.append(f"{cause.cause:<26}", style="dim bold" if cause.cause == UNCLASSIFIED else "bold")
    head.append(f"{cause.count:>8,}  {cause.share:>4.0%}  ")
    head.append(_statuses(cause.by_status), style="dim")
    parts: list[RenderableType] = [head, Text(f"      {cause.signal}")]
    parts += [
        Text(f"      also: {text} (x{count:,})", style="dim") for text, count in cause.signals[1:3]
    ]
    parts += [_upstream(u) for u in cause.upstreams[:5]]
    last = "%H:%M:%S" if cause.last.date() == cause.first.date() else "%Y-%m-%d %H:%M:%S"
    span = f"{cause.first:%Y-%m-%d %H:%M:%S} to {cause.last.strftime(last)} UTC"
    parts.append(Text(f"      {span}", style="dim"))
    if cause.candidates:
        parts.append(Text("      fits: " + ", ".join(cause.candidates[:4]), style="dim"))
    parts.append(Text(f"      e.g. {_cut(scrub(cause.example))}", style="dim"))
    return parts


def _message(message: MessageSummary) -> list[RenderableType]:
    head = Text("  ")
    verdict = message.cause or "candidates: " + ", ".join(message.candidates[:3])
    head.append(f"{message.family:<26}", style="bold")
    head.append(f"{message.count:>8,}  ")
    head.append(verdict, style="bold" if message.cause else "")
    parts: list[RenderableType] = [head, Text(f"      {message.signal}")]
    about = Text("      about ")
    about.append(message.subject, style="cyan")
    if message.pod is not None:
        about.append(f"  {message.pod.ref} ({message.pod.state})", style="dim")
    parts.append(about)
    shown = [f"{key} {value}" for key, value in message.details]
    if shown:
        parts.append(Text("      " + "; ".join(shown), style="dim"))
    if message.first is not None and message.last is not None:
        span = f"{message.first:%Y-%m-%d %H:%M:%S} to {message.last:%H:%M:%S} UTC"
        parts.append(Text(f"      {span}", style="dim"))
    parts.append(Text(f"      e.g. {_cut(message.example)}", style="dim"))
    return parts


def _cut(example: str) -> str:
    return example if len(example) <= _EXAMPLE_WIDTH else example[: _EXAMPLE_WIDTH - 1] + "…"


def _spark(counts: tuple[int, ...], peak: int) -> str:
    return "".join(
        "·" if n == 0 else _BARS[min(len(_BARS) - 1, (n * len(_BARS) - 1) // peak)] for n in counts
    )


def _timeline(timeline: Timeline) -> list[RenderableType]:
    parts: list[RenderableType] = [
        Text(
            f"Over time ({timeline.bucket_seconds} s buckets from "
            f"{timeline.start:%Y-%m-%d %H:%M:%S} UTC)",
            style="bold",
        )
    ]
    peak = max((max(c) for _, c in timeline.services if c), default=1) or 1
    for name, counts in timeline.services[:8]:
        line = Text("  ")
        shown = name if len(name) <= _SERVICE_WIDTH else name[: _SERVICE_WIDTH - 1] + "…"
        line.append(f"{shown:<{_SERVICE_WIDTH}} ", style="cyan")
        line.append(_spark(counts, peak), style="red")
        line.append(f"  {sum(counts):,}")
        parts.append(line)
    for event in timeline.events:
        line = Text("  ")
        marker = " " * (_SERVICE_WIDTH + 1 + event.bucket) + "▲"
        line.append(marker, style="yellow")
        line.append(f" {event.time:%H:%M:%S} {event.object} {event.reason}: {event.message}")
        parts.append(line)
    return parts


def render_summary(summary: LogSummary) -> RenderableType:
    parts: list[RenderableType] = [_headline(summary), *_files(summary)]
    if summary.causes:
        parts += [Text(""), Text("Causes (most 5xx first)", style="bold")]
        for cause in summary.causes:
            parts += _cause(cause)
    if summary.messages:
        parts += [
            Text(""),
            Text("What proxies, controllers and app servers said (not requests)", style="bold"),
        ]
        for message in summary.messages:
            parts += _message(message)
    if summary.timeline is not None:
        parts += [Text(""), *_timeline(summary.timeline)]
    if summary.insights:
        parts += [Text(""), Text("What the logs and the cluster say together", style="bold")]
        parts += [Text(f"  • {insight}") for insight in summary.insights]
    return Group(*parts)
