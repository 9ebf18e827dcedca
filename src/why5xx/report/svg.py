"""The geometry of a timeline drawing: where each lane, mark, step line and
bar goes in an SVG of a fixed coordinate width. The HTML template draws it
(`templates/_timeline.html.j2`) on the server side, so the timeline needs
no JavaScript, prints, and scales with the page.

Input is the `timeline` object of the JSON document (`Timeline.to_json()`),
as for every template; output is plain numbers and the texts to escape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from why5xx.kube import parse_time

WIDTH = 1000
LEFT = 200  # lane titles
RIGHT = 16
TOP = 34  # the time axis
_LANE_GAP = 10
_SUBROW = 13
_MAX_SUBROWS = 4
_CHART = 64  # a lane of counts
_UPSTREAM_ROW = 15
_MAX_UPSTREAMS = 6
_NEAR = 9.0  # marks closer than this share a sub-row only if they must
_LABEL_CHARS = 30

LANES = {
    "rollout": "Rollouts, ReplicaSets",
    "pods": "Pods",
    "probes": "Probe failures",
    "endpoints": "Endpoints",
    "5xx-status": "5xx by status (logs)",
    "5xx-upstream": "5xx by upstream pod",
}
_TICK_STEPS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_MAX_TICKS = 8
_KIND_OF_LABEL = {
    "ScalingReplicaSet": "scale",
    "SuccessfulRescale": "scale",
    "DeploymentRollback": "scale",
    "ReplicaSet created": "scale",
    "Created": "start",
    "Scheduled": "start",
    "Started": "start",
    "SuccessfulCreate": "start",
    "Completed": "start",
    "Killing": "stop",
    "Terminating": "stop",
    "SuccessfulDelete": "stop",
    "Evicted": "stop",
    "Preempted": "stop",
    "Unhealthy": "probe",
    "ProbeWarning": "probe",
    "OOMKilled": "oom",
    "OOMKilling": "oom",
}
_STATUS_CLASSES = {"502": "s502", "503": "s503", "504": "s504"}


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    cls: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment: a dot, with a bar to `x2` when the event repeated until then."""

    x: float
    y: float
    x2: float | None
    kind: str  # scale | start | stop | fail | probe | oom
    evidence: bool
    title: str


@dataclass(frozen=True, slots=True)
class Polyline:
    points: str
    cls: str
    title: str


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str
    opacity: float = 1.0


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    title: str
    y: float
    height: float
    texts: tuple[Text, ...] = ()
    marks: tuple[Mark, ...] = ()
    lines: tuple[Polyline, ...] = ()
    rects: tuple[Rect, ...] = ()


@dataclass(frozen=True, slots=True)
class Drawing:
    width: int
    height: float
    left: int
    right: float
    top: int
    ticks: tuple[Text, ...]
    lanes: tuple[Lane, ...]
    now: float | None
    window: Rect | None
    empty: bool

    @property
    def has_evidence(self) -> bool:
        return any(m.evidence for lane in self.lanes for m in lane.marks) or any(
            "ev" in r.cls.split() for lane in self.lanes for r in lane.rects
        )


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, time: datetime) -> float:
        share = (time - self.start).total_seconds() / self.seconds
        return round(LEFT + min(max(share, 0.0), 1.0) * (WIDTH - LEFT - RIGHT), 1)


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None, value  # the JSON document writes every time
    return parsed


def _clock(time: datetime, step: int) -> str:
    return f"{time:%H:%M:%S}" if step < 60 else f"{time:%H:%M}"


def _ticks(start: datetime, end: datetime, scale: _Scale) -> tuple[Text, ...]:
    span = scale.seconds
    step = next((s for s in _TICK_STEPS if span / s <= _MAX_TICKS), 86400)
    first = int(start.timestamp()) // step * step + step
    out = []
    stamp = first
    while stamp <= end.timestamp():
        time = datetime.fromtimestamp(stamp, start.tzinfo)
        out.append(Text(scale.x(time), TOP - 10, _clock(time, step), "tick"))
        stamp += step
    return tuple(out)


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _mark_kind(label: str) -> str:
    if label in _KIND_OF_LABEL:
        return _KIND_OF_LABEL[label]
    return "oom" if "OOM" in label else "fail"


def _event_lane(key: str, y: float, moments: Sequence[Mapping[str, Any]], scale: _Scale) -> Lane:
    """Marks in sub-rows, so that close moments do not hide each other."""
    ends: list[float] = []
    marks = []
    for moment in sorted(moments, key=lambda m: str(m["time"])):
        x = scale.x(_time(moment["time"]))
        x2 = scale.x(_time(moment["until"])) if moment.get("until") else None
        row = next((i for i, end in enumerate(ends) if end + _NEAR <= x), None)
        if row is None:
            row = (
                len(ends)
                if len(ends) < _MAX_SUBROWS
                else min(range(len(ends)), key=ends.__getitem__)
            )
            if row == len(ends):
                ends.append(0.0)
        ends[row] = max(x2 or x, x)
        count = f" x{moment['count']}" if moment.get("count", 1) > 1 else ""
        until = f" to {moment['until'][11:19]}" if moment.get("until") else ""
        title = (
            f"{moment['time'][11:19]}{until} UTC  {moment['object']}\n"
            f"{moment['label']}{count}: {moment['detail']}"
        ).rstrip(": ")
        marks.append(
            Mark(
                x=x,
                y=round(y + 10 + row * _SUBROW, 1),
                x2=x2,
                kind=_mark_kind(str(moment["label"])),
                evidence=bool(moment.get("evidence")),
                title=title,
            )
        )
    height = 20 + max(len(ends) - 1, 0) * _SUBROW
    return Lane(key=key, title=LANES[key], y=y, height=height, marks=tuple(marks))


def _level(y: float, value: int, top: int) -> float:
    return round(y + _CHART - 4 - (_CHART - 12) * value / top, 1)


def _step_points(
    points: Sequence[tuple[datetime, int]], end: datetime, scale: _Scale, y: float, top: int
) -> str:
    coords: list[str] = []
    for i, (time, value) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else end
        level = _level(y, value, top)
        coords += [f"{scale.x(time)},{level}", f"{scale.x(until)},{level}"]
    return " ".join(coords)


def _endpoint_lane(
    y: float, series: Sequence[Mapping[str, Any]], end: datetime, scale: _Scale
) -> Lane:
    parsed = [(s, [(_time(t), int(v)) for t, v in s["points"]]) for s in series]
    top = max([1, *(v for _, points in parsed for _, v in points)])
    lines = []
    now_counts = []
    marks = []
    for s, points in parsed:
        if not points:
            continue
        time, value = points[-1]  # the snapshot's count, from its EndpointSlices
        marks.append(
            Mark(
                x=scale.x(time),
                y=_level(y, value, top),
                x2=None,
                kind=f"ep-{s['name']}",
                evidence=False,
                title=f"{value} {s['name']} from {time:%H:%M:%S} UTC to the snapshot",
            )
        )
        lines.append(
            Polyline(
                points=_step_points(points, end, scale, y, top),
                cls=f"ep-{s['name']}",
                title=f"{s['name']}: " + ", ".join(f"{t:%H:%M:%S} {v}" for t, v in points),
            )
        )
        now_counts.append(f"{points[-1][1]} {s['name']}")
    texts = (
        Text(LEFT - 8, y + 12, str(top), "axis"),
        Text(LEFT - 8, y + _CHART - 4, "0", "axis"),
        Text(8, y + 30, ", ".join(now_counts), "sub"),
    )
    return Lane(
        key="endpoints",
        title=LANES["endpoints"],
        y=y,
        height=_CHART,
        texts=texts,
        lines=tuple(lines),
        marks=tuple(marks),
    )


def _bucket_rects(
    s: Mapping[str, Any], scale: _Scale
) -> Iterable[tuple[datetime, float, float, int]]:
    size = int(s.get("bucket_seconds") or 1)
    for t, value in s["points"]:
        if value:
            start = _time(t)
            x = scale.x(start)
            w = max(scale.x(start + timedelta(seconds=size)) - x, 1.5)
            yield start, x, round(w, 1), int(value)


def _status_lane(y: float, series: Sequence[Mapping[str, Any]], scale: _Scale) -> Lane:
    """Stacked bars: each bucket's 5xx, split by status."""
    totals: dict[float, int] = {}
    for s in series:
        for _, x, _, value in _bucket_rects(s, scale):
            totals[x] = totals.get(x, 0) + value
    top = max([1, *totals.values()])
    stacked: dict[float, float] = {}
    rects = []
    for s in series:
        cls = _STATUS_CLASSES.get(str(s["name"]), "s5xx") + (" ev" if s.get("evidence") else "")
        for start, x, w, value in _bucket_rects(s, scale):
            h = round((_CHART - 8) * value / top, 1)
            base = stacked.get(x, y + _CHART - 4)
            rects.append(
                Rect(x, round(base - h, 1), w, h, cls, f"{start:%H:%M:%S} {s['name']} x{value}")
            )
            stacked[x] = base - h
    names = " · ".join(f"{s['name']} x{sum(int(v) for _, v in s['points'])}" for s in series)
    texts = (
        Text(LEFT - 8, y + 12, str(top), "axis"),
        Text(8, y + 30, names, "sub"),
    )
    return Lane(
        key="5xx-status",
        title=LANES["5xx-status"],
        y=y,
        height=_CHART,
        texts=texts,
        rects=tuple(rects),
    )


def _upstream_lane(y: float, series: Sequence[Mapping[str, Any]], scale: _Scale) -> Lane:
    """One strip per upstream pod, darker where more of its requests failed."""
    shown = list(series)[:_MAX_UPSTREAMS]
    top = max([1, *(int(v) for s in shown for _, v in s["points"])])
    rects = []
    texts = []
    for row, s in enumerate(shown):
        row_y = y + 18 + row * _UPSTREAM_ROW  # under the lane's title
        evidence = bool(s.get("evidence"))
        name = str(s["name"]).rpartition("/")[2]
        texts.append(Text(LEFT - 8, row_y + 10, _short(name), "pod ev" if evidence else "pod"))
        for start, x, w, value in _bucket_rects(s, scale):
            rects.append(
                Rect(
                    x,
                    row_y,
                    w,
                    _UPSTREAM_ROW - 3,
                    "up ev" if evidence else "up",
                    f"{start:%H:%M:%S} {s['name']} x{value}",
                    round(0.3 + 0.7 * value / top, 2),
                )
            )
    return Lane(
        key="5xx-upstream",
        title=LANES["5xx-upstream"],
        y=y,
        height=20 + len(shown) * _UPSTREAM_ROW,
        texts=tuple(texts),
        rects=tuple(rects),
    )


def layout(timeline: Mapping[str, Any]) -> Drawing:
    start, end = _time(timeline["start"]), _time(timeline["end"])
    now = _time(timeline["now"]) if timeline.get("now") else None
    pad = max((end - start) / 40, timedelta(seconds=1))
    start, end = start - pad, end + pad
    scale = _Scale(start, end)
    moments = timeline.get("moments") or []
    series = timeline.get("series") or []
    lanes: list[Lane] = []
    y = float(TOP)
    for key in ("rollout", "pods", "probes"):
        own = [m for m in moments if m["lane"] == key]
        if own:
            lanes.append(_event_lane(key, y, own, scale))
            y += lanes[-1].height + _LANE_GAP
    for key in ("endpoints", "5xx-status", "5xx-upstream"):
        own = [s for s in series if s["lane"] == key]
        if not own or (key != "endpoints" and not any(p[1] for s in own for p in s["points"])):
            continue
        if key == "endpoints":
            lanes.append(_endpoint_lane(y, own, end - pad, scale))
        elif key == "5xx-status":
            lanes.append(_status_lane(y, own, scale))
        else:
            lanes.append(_upstream_lane(y, own, scale))
        y += lanes[-1].height + _LANE_GAP
    window = None
    if timeline.get("window"):
        w0, w1 = (scale.x(_time(t)) for t in timeline["window"])
        window = Rect(w0, TOP - 4, max(w1 - w0, 3.0), y - TOP, "window", "the verdict's 5xx")
    return Drawing(
        width=WIDTH,
        height=round(y + 4, 1),
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        ticks=_ticks(start, end, scale),
        lanes=tuple(lanes),
        now=scale.x(now) if now is not None else None,
        window=window,
        empty=not moments and not any(p[1] for s in series for p in s["points"]),
    )
