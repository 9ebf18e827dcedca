"""Line numbers of objects in manifest files (`load_bundle(lines=True)`, for
`why5xx lint`): multi-document YAML as helm and kustomize print it, `List`s
in YAML and JSON, concatenated JSON; and a diagnosis load records none."""

from __future__ import annotations

import io
import json
from pathlib import Path

from why5xx.sources.bundle import load_bundle

HELM_LIKE = b"""---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
---
# Source: shop/templates/empty.yaml
---

apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  script: |
    ---
    - not a document
"""

YAML_LIST = b"""apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
  spec:
    ports:
    - port: 80
- apiVersion: v1
  kind: Service
  metadata: {name: b}
metadata:
  resourceVersion: ""
"""


def _lines(data: bytes, name: str = "-") -> dict[str, int | None]:
    bundle = load_bundle([name], stdin=io.BytesIO(data), lines=True)
    assert not bundle.errors, bundle.errors
    return {o.name: o.line for o in bundle.objects}


def test_multi_document_yaml() -> None:
    assert _lines(HELM_LIKE) == {"web": 3, "settings": 11}


def test_yaml_list_items() -> None:
    assert _lines(YAML_LIST) == {"a": 4, "b": 11}


def test_json_list_and_concatenated_values() -> None:
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "labels": {}}},
        ],
    }
    text = (
        json.dumps(listing, indent=4)
        + "\n"
        + json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, indent=2)
    )
    lines = text.splitlines()
    assert _lines(text.encode()) == {
        "a": lines.index("        {") + 1,
        "b": len(lines) - lines[::-1].index("        {"),
        "c": lines.index("{", 1) + 1,
    }


def test_a_diagnosis_records_no_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_bytes(YAML_LIST)
    assert {o.line for o in load_bundle([str(path)]).objects} == {None}
    assert {o.line for o in load_bundle([str(path)], lines=True).objects} == {4, 11}
