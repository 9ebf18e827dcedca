"""Fuzzing: Kubernetes objects of every kind the snapshot reads with fields
replaced by wrong types, nulls and huge values; log lines bent around each
format's grammar; malformed kubeconfigs. Whatever comes in: no exception
escapes, no rule crashes, the exit code is one the README defines, and a
valid Service next to the broken objects is still diagnosed.

The seeds are the scenario bundles (real kubectl output) and the log lines
of `logfixtures` (copied from documentation and issue threads).

`make test` runs the "ci" profile (derandomized, about a minute); `make
fuzz` runs the "deep" one (WHY5XX_FUZZ=deep, fresh random examples, many
more of them).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import logfixtures
from fakeapi import Pki, token_user, write_kubeconfig
from why5xx.cli import main
from why5xx.engine import Target, diagnose, diagnose_all
from why5xx.lint.manifests import Manifests
from why5xx.lint.runner import lint
from why5xx.model import Report, Status
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources import logs
from why5xx.sources.bundle import load_bundle
from why5xx.sources.kubeapi import ClusterError, KubeApi, load_config

_QUICK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci",
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_QUICK,
)
settings.register_profile("deep", max_examples=5000, deadline=None, suppress_health_check=_QUICK)
PROFILE = os.environ.get("WHY5XX_FUZZ", "ci")
# Fewer examples where each runs the whole CLI.
CLI_SHARE = 5

SCENARIOS = Path(__file__).parent / "scenarios"
CONTROL_NAMESPACE = "fuzz-control"
CONTROL: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "steady", "namespace": CONTROL_NAMESPACE},
        "spec": {"selector": {"app": "steady"}, "ports": [{"port": 80, "targetPort": 8080}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "steady-1",
            "namespace": CONTROL_NAMESPACE,
            "labels": {"app": "steady"},
        },
        "spec": {
            "containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}]
        },
        "status": {
            "phase": "Running",
            "podIP": "10.9.9.9",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    },
]
CONTROL_TARGET = Target.parse("steady", CONTROL_NAMESPACE)


def examples(share: int = 1) -> settings:
    """The profile's settings, with 1/`share` of its examples."""
    profile = settings.get_profile(PROFILE)
    return settings(profile, max_examples=max(10, (profile.max_examples or 100) // share))


@cache
def seeds() -> tuple[dict[str, Any], ...]:
    """One object of each kind the scenarios hold (a few of the common ones),
    as kubectl wrote them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for directory in sorted(SCENARIOS.glob("*/*")):
        files = [str(p) for p in sorted(directory.iterdir()) if p.name != "expected.yaml"]
        for obj in load_bundle(files).objects:
            found.setdefault(obj.kind, [])
            if len(found[obj.kind]) < 3:
                found[obj.kind].append(orjson.loads(orjson.dumps(obj.raw)))
    return tuple(raw for kind in sorted(found) for raw in found[kind])


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path into a decoded JSON value, the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


WRONG_VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from([[], {}, [None], {"a": None}, [[]], {"": {}}, "-1", "0x1F", "9" * 40]),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.integers()), max_size=3),
    st.just("x" * 100_000),
    # Deeper than the walk checks (48), within what JSON encoders write (255).
    st.integers(min_value=40, max_value=250).map(_nested),
)


@st.composite
def broken_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A seed object with one to four of its fields (or items) replaced by
    a value of another type, or removed."""
    raw = orjson.loads(orjson.dumps(draw(st.sampled_from(seeds()))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(raw) if p and p[:1] not in (("kind",), ("apiVersion",))]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = raw
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(WRONG_VALUES))  # never a shared constant
    return raw  # type: ignore[no-any-return]


def _objects(raws: list[dict[str, Any]]) -> list[Obj]:
    return [Obj.from_raw(raw, "fuzz") for raw in raws if isinstance(raw.get("kind"), str)]


def _crashes(reports: list[Report]) -> list[str]:
    return [f"{c.rule} on {c.target}: {c.error}" for r in reports for c in r.crashed]


@examples()
@given(broken=st.lists(broken_objects(), min_size=1, max_size=4))
def test_broken_objects_never_crash_a_rule_or_hide_a_valid_service(
    broken: list[dict[str, Any]],
) -> None:
    snap = Snapshot.build(_objects([*CONTROL, *broken]))
    reports = diagnose_all(snap, None)
    assert not _crashes(reports)
    control = diagnose(snap, CONTROL_TARGET)
    assert control.status is Status.HEALTHY, control.to_json()
    for namespace in {o.namespace for o in snap.list("Service")}:
        for service in snap.list("Service", namespace):
            if service.name:
                diagnose(snap, Target.parse(service.name, namespace))
    manifests = Manifests(tuple(_objects([*CONTROL, *broken])), namespace="default")
    report = lint(manifests)
    assert not report.errors, report.errors


@examples(CLI_SHARE)
@given(broken=st.lists(broken_objects(), min_size=1, max_size=3))
def test_the_cli_on_broken_bundles_exits_as_the_readme_says(
    broken: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "bundle.json"
    items = [*CONTROL, *broken]
    path.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    for args in (
        ["diagnose", "--all", "-A", "--bundle", str(path)],
        ["diagnose", "steady", "-n", CONTROL_NAMESPACE, "--bundle", str(path), "-o", "json"],
        ["lint", str(path), "-o", "json"],
    ):
        code, out, err = _run(args)
        assert code in {0, 1, 2, 3}, (args, err)
        assert "unexpected" not in err, (args, err)
        if args[1] == "steady":
            assert orjson.loads(out)["status"] == "healthy", out


def _run(args: list[str]) -> tuple[int, str, str]:
    import io  # noqa: PLC0415
    from contextlib import redirect_stderr, redirect_stdout  # noqa: PLC0415

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main([*args, "--no-color"])
    return int(exit_info.value.code or 0), out.getvalue(), err.getvalue()


# --- log lines ---------------------------------------------------------------------


LOG_SEEDS = tuple(
    value
    for name, value in sorted(vars(logfixtures).items())
    if name.isupper() and isinstance(value, str) and len(value) > 20
)


@st.composite
def bent_lines(draw: st.DrawFn) -> str:
    """A real log line with a few edits: digits changed (dates that do not
    exist, statuses out of range), pieces cut, junk inserted."""
    line = draw(st.sampled_from(LOG_SEEDS))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(line)))
        edit = draw(st.integers(min_value=0, max_value=3))
        if edit == 0:
            line = line[:at] + draw(st.text(max_size=6)) + line[at:]
        elif edit == 1:
            line = line[:at] + line[at + draw(st.integers(min_value=1, max_value=12)) :]
        else:
            digits = [i for i, c in enumerate(line) if c.isdigit()]
            if digits:
                i = draw(st.sampled_from(digits))
                line = line[:i] + draw(st.sampled_from("0123456789")) + line[i + 1 :]
    return line


@examples()
@given(
    lines=st.lists(bent_lines(), min_size=1, max_size=30),
    format_name=st.sampled_from([None, *(f.name for f in logs.FORMATS)]),
)
def test_bent_log_lines_are_parsed_or_counted_never_raised(
    lines: list[str], format_name: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("logs") / "access.log"
    path.write_text("\n".join(lines) + "\n", errors="surrogatepass")
    fmt = logs.format_named(format_name) if format_name else None
    summary = logs.summarize_logs([str(path)], fmt=fmt)
    (file,) = summary.files
    written = sum(line.count("\n") + 1 for line in lines)
    assert file.lines == written or file.format == logs.UNKNOWN or file.error
    assert 0 <= file.unparsed <= file.lines


# --- kubeconfigs -------------------------------------------------------------------


@st.composite
def broken_kubeconfigs(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    config = orjson.loads(orjson.dumps(valid))
    paths = [p for p in _paths(config) if p]  # of the valid file: replaced values are leaves
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths))
        parent: Any = config
        for key in path[:-1]:
            if type(parent) not in (dict, list):
                break
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if type(parent) in (dict, list):
                value = draw(WRONG_VALUES.filter(lambda v: not isinstance(v, float)))
                with contextlib.suppress(IndexError, TypeError):
                    parent[path[-1]] = copy.deepcopy(value)
    return config  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def valid_kubeconfig(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("kc") / "config"
    write_kubeconfig(path, "https://127.0.0.1:6443", pki.ca_pem, {"fuzz": token_user("t")})
    return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]


@examples()
@given(data=st.data())
def test_a_broken_kubeconfig_is_a_cluster_error_or_usable(
    data: st.DataObject,
    valid_kubeconfig: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = data.draw(broken_kubeconfigs(valid_kubeconfig))
    path = tmp_path_factory.mktemp("kc") / "config"
    path.write_text(json.dumps(config))  # integers past 64 bits too
    message = ""
    try:
        KubeApi(load_config(str(path)), timeout=0.5, deadline=1).close()
    except ClusterError as exc:
        message = str(exc) or "(empty)"
    assert "\n" not in message
    assert message != "(empty)"


def test_the_suite_covers_every_kind_the_rules_read() -> None:
    kinds = {raw["kind"] for raw in seeds()}
    assert kinds >= {
        "Service",
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "EndpointSlice",
        "Endpoints",
        "Event",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "HTTPRoute",
        "Gateway",
        "DestinationRule",
        "VirtualService",
        "PeerAuthentication",
        "Node",
    }, kinds
