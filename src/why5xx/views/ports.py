"""A Service's ports as the endpoint controller reads them: number, name,
targetPort (a number or a container port's name) and protocol."""

from __future__ import annotations

from dataclasses import dataclass

from why5xx.snapshot import Obj

PROBE_FIELDS = ("readinessProbe", "livenessProbe", "startupProbe")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePort:
    """One entry of a Service's `spec.ports`, with targetPort defaulted as the
    API server does (to `port`)."""

    index: int
    name: str
    port: int
    protocol: str
    target: int | str
    defaulted: bool  # targetPort was not set

    @property
    def field(self) -> str:
        return f"spec.ports[{self.name or self.index}]"

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.port}/{self.protocol})"
            if self.name
            else f"{self.port}/{self.protocol}"
        )


def service_ports(service: Obj) -> tuple[ServicePort, ...]:
    out: list[ServicePort] = []
    for index, raw in enumerate(service.spec.get("ports") or ()):
        if raw.get("port") is None:
            continue
        target = raw.get("targetPort")
        # The API server defaults an unset targetPort, and one of 0, to `port`.
        defaulted = target in (None, 0, "0", "")
        if defaulted:
            target = raw["port"]
        elif isinstance(target, str) and target.isdigit():
            target = int(target)
        out.append(
            ServicePort(
                index=index,
                name=str(raw.get("name") or ""),
                port=int(raw["port"]),
                protocol=str(raw.get("protocol") or "TCP"),
                target=target if isinstance(target, str) else int(target),
                defaulted=defaulted,
            )
        )
    return tuple(out)
