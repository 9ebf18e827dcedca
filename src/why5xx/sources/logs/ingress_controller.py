"""The ingress controllers' own klog lines: ingress-nginx (kubernetes/ingress-nginx)
and NGINX Inc.'s controller (nginx/kubernetes-ingress).

klog writes `W0728 13:49:49.824295       7 controller.go:1111] <message>`:
severity, month and day, time, thread, source file; no year, so these lines
carry no time of their own (a `kubectl logs --timestamps` prefix gives one).
`kubectl logs` of the controller interleaves them with nginx's access and
error lines.

What they say about a backend (messages as the controllers print them):
- ingress-nginx `Service "shop/api" does not have any active Endpoint.`
  (older: `service shop/api does not have any active endpoints`): no ready
  endpoint, so nginx answers 503 without an upstream.
- ingress-nginx `Error obtaining Endpoints for Service "shop/api": no object
  matching key "shop/api" in local store` and `Error getting Service
  "shop/api" from local store`: the Ingress names a Service that does not
  exist.
- NGINX Inc. `Error retrieving endpoints for the service api: No endpoints
  for target port 8080 in service api` (or `... No pods of service api`): no
  endpoint on that port; `Error getting endpoints for service api port {0
  8080 }: No port {0 8080 } in service api`: the Service has no such port.
"""

from __future__ import annotations

import re

from why5xx.sources.logs.reader import Message, MessageFormat, first_message, messages
from why5xx.sources.logs.record import Notice, Symptom

_KLOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ [\w.-]+:\d+\] ")
_NAME = r"[a-z0-9][-a-z0-9.]*"

# (pattern, symptom, signal); the pattern's `service` group names the Service.
_INGRESS_NGINX = messages(
    (
        # Also pasted shortened: `W0813 09:43:12 ... does not have any active Endpoint.`
        rf'(?:[Ss]ervice "?(?P<service>{_NAME}(?:/{_NAME})?)"? )?(?:\.\.\. )?'
        "does not have any active [Ee]ndpoint",
        Symptom.NO_ENDPOINTS,
        "Service does not have any active Endpoint",
    ),
    (
        rf'Error obtaining Endpoints for Service "(?P<service>{_NAME}/{_NAME})": '
        "no object matching key",
        Symptom.NO_SERVICE,
        "Error obtaining Endpoints for Service: no such Service",
    ),
    (
        rf'Error getting Service "(?P<service>{_NAME}/{_NAME})" from local store',
        Symptom.NO_SERVICE,
        "Error getting Service from local store: no such Service",
    ),
    (
        r"Ignoring ingress because of error while validating ingress class.*"
        rf'ingress="(?P<ingress>{_NAME}/{_NAME})"',
        Symptom.NO_INGRESS_CLASS,
        "Ignoring ingress: it does not name a valid IngressClass",
    ),
)
_NGINX_INC = messages(
    (
        rf"Error retrieving endpoints for the service (?P<service>{_NAME}): "
        r"(?:.*No pods of service|No endpoints for target port)",
        Symptom.NO_ENDPOINTS,
        "Error retrieving endpoints for the service: no endpoints for its target port",
    ),
    (
        rf"Error getting endpoints for service (?P<service>{_NAME}) port .*: No port ",
        Symptom.NO_SERVICE,
        "Error getting endpoints for service: the Service has no such port",
    ),
)


def _parse(table: tuple[Message, ...], family: str, line: str) -> Notice | None:
    found = first_message(table, line)
    if found is None:
        return None
    message, match = found
    named = match.groupdict()
    return Notice(
        time=None,
        family=family,
        symptom=message.symptom,
        signal=message.signal,
        service=named.get("service") or "",
        details=(("ingress", named["ingress"]),) if named.get("ingress") else (),
        line=line,
    )


def parse_ingress_nginx(line: str) -> Notice | None:
    return _parse(_INGRESS_NGINX, "ingress-nginx-controller", line)


def parse_nginx_inc(line: str) -> Notice | None:
    return _parse(_NGINX_INC, "nginx-inc-controller", line)


# NGINX Inc.'s messages first: both controllers write klog.
NGINX_INC_CONTROLLER = MessageFormat(
    name="nginx-inc-controller",
    # Its messages are distinctive: recognised with or without the klog prefix.
    shape=re.compile(
        r"Error retrieving endpoints for the service |Error getting endpoints for service "
        r"|\] (?:Syncing endpoints|Adding or Updating Ingress)"
    ),
    parse=parse_nginx_inc,
)
INGRESS_NGINX_CONTROLLER = MessageFormat(
    name="ingress-nginx-controller",
    # klog lines, and its messages pasted without the klog prefix.
    shape=re.compile(
        _KLOG.pattern + r"|does not have any active [Ee]ndpoint|Error obtaining Endpoints for "
        r'Service "|Error getting Service "|Ignoring ingress because of error while validating'
    ),
    parse=parse_ingress_nginx,
)
