"""The command lines findings offer: paste-able, and JSON Pointers that kubectl accepts."""

from __future__ import annotations

import shlex

import orjson
import pytest

from why5xx import kubectl
from why5xx.snapshot import Obj


@pytest.mark.parametrize(
    ("field", "pointer"),
    [
        ("spec.selector.app", "/spec/selector/app"),
        ("spec.rules[0].backendRefs[1]", "/spec/rules/0/backendRefs/1"),
        (
            "spec.trafficPolicy.portLevelSettings[0].connectionPool.tcp.maxConnections",
            "/spec/trafficPolicy/portLevelSettings/0/connectionPool/tcp/maxConnections",
        ),
    ],
)
def test_field_pointer(field: str, pointer: str) -> None:
    assert kubectl.field_pointer(field) == pointer


def test_json_pointer_escapes_label_keys() -> None:
    assert kubectl.json_pointer("metadata", "labels", "app.kubernetes.io/name") == (
        "/metadata/labels/app.kubernetes.io~1name"
    )
    assert kubectl.json_pointer("a~b") == "/a~0b"


def test_patches_are_one_shell_word_of_valid_json() -> None:
    service = Obj.from_raw(
        {"kind": "Service", "metadata": {"name": "api", "namespace": "shop"}}, "bundle:x"
    )
    words = shlex.split(kubectl.merge_patch(service, {"spec": {"selector": {"app": "o'brien"}}}))
    assert words[:5] == ["kubectl", "patch", "-n", "shop", "service/api"]
    assert orjson.loads(words[-1]) == {"spec": {"selector": {"app": "o'brien"}}}
