"""slow-startup: an app that starts slower than its liveness or startup
probe allows, so the kubelet kills it before it ever serves."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from why5xx import kubectl
from why5xx.evidence import MAX_NAMED, duration, fact
from why5xx.model import Draft, Evidence, Fix
from why5xx.rules.base import rule
from why5xx.rules.probes.common import (
    BARE_POD,
    endpoint_evidence,
    event_evidence,
    grouped,
    not_ready_evidence,
    pods_phrase,
    template_patch,
    unready_impact,
    unready_severity,
    unready_who,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.probes import START_MARGIN, Analysis, Probe, Situation, Unready, analyse
from why5xx.views.service import ServiceTarget

# With no start observed, the container needs more than the budget it is killed
# at: allow twice that, with the usual margin.
_UNOBSERVED_FACTOR = 2 * START_MARGIN


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupAdvice:
    """The startupProbe that lets the app start: the existing one with a higher
    failureThreshold when it is what kills the container, else a new one with
    the liveness (or readiness) probe's handler."""

    model: Probe
    failure_threshold: int
    basis: str  # how it was sized

    @property
    def raise_existing(self) -> bool:
        return self.model.kind == "startup"

    @property
    def period(self) -> int:
        return self.model.setting("periodSeconds")

    @property
    def delay(self) -> int:
        return self.model.setting("initialDelaySeconds") if self.raise_existing else 0

    @property
    def budget(self) -> int:
        return self.delay + self.failure_threshold * self.period

    @property
    def sizing(self) -> str:
        return f"failureThreshold {self.failure_threshold} x periodSeconds {self.period}"

    @property
    def probe(self) -> dict[str, Any]:
        probe: dict[str, Any] = {
            self.model.handler: dict(self.model.action),
            "periodSeconds": self.period,
            "failureThreshold": self.failure_threshold,
        }
        if "timeoutSeconds" in self.model.spec:
            probe["timeoutSeconds"] = self.model.spec["timeoutSeconds"]
        return probe

    @property
    def summary(self) -> str:
        if self.raise_existing:
            return (
                f"Raise the startupProbe's failureThreshold from "
                f"{self.model.setting('failureThreshold')} to {self.failure_threshold}, so it "
                f"allows {self.budget}s ({self.sizing}) for start-up."
            )
        return (
            f"Give container {self.model.container} a startupProbe with the {self.model.kind} "
            f"probe's handler ({self.model.target}) and {self.sizing} = {self.budget}s: the "
            "kubelet holds the liveness and readiness probes until it passes, so the liveness "
            "probe can stay strict and still catch a hung app."
        )

    def patch(self, workload: Obj | None) -> str | None:
        operation: tuple[str, tuple[str, ...], Any]
        if self.raise_existing:
            operation = ("replace", ("startupProbe", "failureThreshold"), self.failure_threshold)
        else:
            operation = ("add", ("startupProbe",), self.probe)
        return template_patch(workload, self.model.container, [operation])


def _killer(item: Unready) -> Probe | None:
    """The probe whose failures restart the container."""
    return Probe.of(item.spec, item.kills[-1].probe) if item.kills else None


def _startup_advice(item: Unready, killer: Probe | None) -> StartupAdvice | None:
    if killer is not None and killer.kind == "startup":
        model: Probe | None = killer
    else:
        model = Probe.of(item.spec, "liveness") or Probe.of(item.spec, "readiness")
    if model is None or not model.handler:
        return None
    longest = item.longest
    owner = f"{item.owner.kind} {item.owner.name}"
    if longest is not None:
        base = max(longest.seconds, killer.budget if killer else 0)
        factor = START_MARGIN
        reason = (
            f"Pod {longest.pod.name} of {owner} became ready {duration(longest.seconds)} "
            f"after container {longest.container} started"
        )
        if killer is not None and killer.budget > longest.seconds:
            reason += f", and this container is killed after {killer.budget}s without being ready"
        note = ""
    elif killer is not None:
        base = killer.budget
        factor = _UNOBSERVED_FACTOR
        reason = (
            f"The start time was not observed: no pod of {owner} became ready, so all that is "
            f"known is that start-up takes longer than the {killer.budget}s the container gets"
        )
        note = (
            " Tighten it once a pod has started: its start time is its Ready condition's "
            "lastTransitionTime minus the container's startedAt."
        )
    else:
        return None
    delay = model.setting("initialDelaySeconds") if model.kind == "startup" else 0
    threshold = max(1, math.ceil((base * factor - delay) / model.setting("periodSeconds")))
    advice = StartupAdvice(model=model, failure_threshold=threshold, basis="")
    basis = (
        f"{reason}; the startupProbe allows {advice.sizing} = {advice.budget}s, at least "
        f"{factor:g} x {duration(base)}.{note}"
    )
    return replace(advice, basis=basis)


@rule(cause="slow-startup", inputs=("Service", "Pod"))
def slow_startup(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The app starts slower than its probes allow.

    **What it finds**: (a) containers of the selected pods that the kubelet
    restarts because their liveness (or startup) probe fails ("Container api
    failed liveness probe, will be restarted") while the pod has never been
    ready: start-up takes longer than the probe's initialDelaySeconds +
    failureThreshold x periodSeconds; (b) containers whose readiness or
    startup probe has failed since they started, and that have run for less
    than 1.5 x the time a ready pod of the same workload took to become
    ready: they are still starting. It measures start times on the
    workload's ready pods (Ready's lastTransitionTime minus the container's
    startedAt) and computes a `startupProbe` whose failureThreshold x
    periodSeconds allows 1.5 x the longest; when no pod ever became ready,
    it says so and sizes it from the liveness budget (3 x, since start-up
    is known only to take longer than that).

    **Why it is a 5xx**: a pod that is not ready has no endpoint. When the
    liveness probe kills the app before it is ready, it never will be and the
    restarts end in CrashLoopBackOff; when every pod starts at once (a
    rollout, a node drain), the Service has no endpoint and proxies answer
    503 until one is ready.

    **Fix**: add a `startupProbe` with the liveness probe's handler, sized to
    the real start time (or raise the failureThreshold of the startupProbe
    that kills it), so the liveness probe can stay strict for a hung app.
    """
    analysis = analyse(snap, target)
    slow = [u for u in analysis.unready if u.situation is not Situation.PROBE_FAILING]
    for group in grouped(slow, lambda u: (u, u.situation.value)):
        yield _startup_draft(snap, target, analysis, group)


def _startup_draft(
    snap: Snapshot, target: ServiceTarget, analysis: Analysis, items: Sequence[Unready]
) -> Draft:
    item = items[0]
    name = item.state.name
    killer = _killer(item)
    advice = _startup_advice(item, killer)
    who, verb = unready_who(analysis, items)
    longest = item.longest
    evidence: list[Evidence] = []
    if item.situation is Situation.KILLED_BEFORE_READY:
        kind = killer.kind if killer else item.kills[-1].probe
        title = f"{who} {verb} killed by the {kind} probe before ever becoming ready"
        lead = f"The kubelet restarts container {name} when its {kind} probe fails"
        if killer is not None:
            title += f": start-up takes longer than the {killer.budget}s it allows"
            lead += (
                f" {killer.setting('failureThreshold')} times in a row, {killer.budget}s after "
                f"start ({killer.budget_terms})"
            )
        serve = "serves" if verb == "is" else "serve"
        lead += (
            f"; the app is not ready by then, so {pods_phrase(items)} never {serve} and the "
            "restarts end in CrashLoopBackOff."
        )
        for each in items[:MAX_NAMED]:
            state = each.state.reason or each.state.state
            evidence.append(
                fact(
                    each.pod,
                    f"status.containerStatuses[{name}].restartCount",
                    f"{each.state.restarts} ({state}, never ready)",
                )
            )
            evidence.append(event_evidence(each.pod, each.kills[-1].event, snap.now))
        failing = item.latest("liveness", "startup")
    else:
        failing = item.latest("readiness", "startup")
        kind = failing.probe if failing else "readiness"
        probe = Probe.of(item.spec, kind)
        took = f"{duration(longest.seconds)} on pod {longest.pod.name}" if longest else ""
        title = f"{who} {verb} still starting and failing the {kind} probe: start-up took {took}"
        running = f" for {duration(item.running_for)}" if item.running_for else ""
        lead = (
            f"{pods_phrase(items)} {verb} running{running} and the {kind} probe fails until "
            "the app is up"
        )
        if probe is not None and longest is not None and probe.budget < longest.seconds:
            lead += (
                f": the probe allows {probe.budget}s ({probe.budget_terms}) but start-up "
                f"took {took}."
            )
        else:
            lead += f", and start-up took {took}."
        lead += (
            " Every start (a rollout, a rescheduled pod) brings probe failures and a window "
            "without the pod."
        )
        evidence += [not_ready_evidence(each) for each in items[:MAX_NAMED]]
    shown = killer or Probe.of(item.spec, failing.probe if failing else "readiness")
    if shown is not None:
        evidence.insert(
            0,
            fact(item.pod, shown.field(), shown.describe()),
        )
    if advice is not None:
        current = Probe.of(item.spec, "startup")
        evidence.insert(
            1,
            fact(
                item.pod,
                f"spec.containers[{name}].startupProbe",
                current.describe() if current else "(not set)",
                expected=f"{advice.sizing} = {advice.budget}s",
            ),
        )
    if failing is not None:
        evidence.append(event_evidence(item.pod, failing.event, snap.now))
    if longest is not None:
        evidence.append(
            fact(
                longest.pod,
                "status.conditions[Ready].lastTransitionTime",
                (
                    f"{longest.ready_at:%Y-%m-%dT%H:%M:%SZ} ({duration(longest.seconds)} after "
                    f"containers[{longest.container}] started)"
                ),
            )
        )
    evidence += endpoint_evidence(target)
    explanation = " ".join(
        part
        for part in (lead, unready_impact(analysis, target), advice.basis if advice else "")
        if part
    )
    if advice is not None:
        fix = Fix(
            summary=advice.summary + (BARE_POD if item.workload is None else ""),
            patch=advice.patch(item.workload),
        )
    else:
        fix = Fix(
            summary=f"Give container {name} a startupProbe that allows its real start-up time."
        )
    return Draft(
        subject=item.owner.ref,
        title=title,
        explanation=explanation,
        evidence=tuple(evidence),
        confirm=(
            kubectl.describe(item.pod),
            kubectl.events(item.pod),
            kubectl.logs(item.pod, name, previous=item.state.restarts > 0),
            kubectl.get_pods(target.namespace, target.selector),
        ),
        fix=fix,
        severity=unready_severity(analysis),
        confidence=0.9 if item.situation is Situation.KILLED_BEFORE_READY else 0.75,
    )
