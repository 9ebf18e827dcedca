"""Inputs a hostile (or unlucky) user gives: every one ends in one clear line
and an exit code the README defines, never a traceback, and what could be
read is still used (issue 12's list, one regression case each)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from fakeapi import Pki, exec_user, token_user, write_kubeconfig
from why5xx import api
from why5xx.cli import main

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "api", "namespace": "default"},
    "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "api-1", "namespace": "default", "labels": {"app": "api"}},
    "spec": {"containers": [{"name": "api", "image": "api:1", "ports": [{"containerPort": 8080}]}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}
DEFINED_EXITS = {0, 1, 2, 3}
Mutation = Callable[[list[dict[str, Any]]], None]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def bundle(tmp_path: Path, documents: list[dict[str, Any]], name: str = "bundle.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def _set(path: tuple[str | int, ...], value: Any, document: int = 0) -> Mutation:
    def mutate(documents: list[dict[str, Any]]) -> None:
        target: Any = documents[document]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _append(document: dict[str, Any]) -> Mutation:
    return lambda documents: documents.append(document)


# (case, mutation of [Service, Pod], the warning line it must give)
WRONG_TYPES: list[tuple[str, Mutation, str]] = [
    ("spec-string", _set(("spec",), "x"), "Service/default/api: spec is a string, not a mapping"),
    (
        "labels-list",
        _set(("metadata", "labels"), ["app"], 1),
        "Pod/default/api-1: metadata.labels is a list, not a mapping of strings",
    ),
    (
        "selector-list",
        _set(("spec", "selector"), ["app"]),
        "Service/default/api: spec.selector is a list, not a mapping of strings",
    ),
    (
        "status-string",
        _set(("status",), "Running", 1),
        "Pod/default/api-1: status is a string, not a mapping",
    ),
    ("owner-references-null", _set(("metadata", "ownerReferences"), None, 1), ""),
    (
        "ports-null-item",
        _set(("spec", "ports"), [None, {"port": 80, "targetPort": 8080}]),
        "Service/default/api: spec.ports[0] is null, not a mapping: ignored",
    ),
    (
        "involved-object-string",
        _append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "e1", "namespace": "default"},
                "involvedObject": "pod/p1",
                "reason": "BackOff",
            }
        ),
        "Event/default/e1: involvedObject is a string, not a mapping: read as absent",
    ),
    (
        "subsets-null-item",
        _append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "api", "namespace": "default"},
                "subsets": [None],
            }
        ),
        "Endpoints/default/api: subsets[0] is null, not a mapping: ignored",
    ),
    (
        "endpoints-null-item",
        _append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "api-x",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "api"},
                },
                "endpoints": [None],
            }
        ),
        "EndpointSlice/default/api-x: endpoints[0] is null, not a mapping: ignored",
    ),
    (
        "container-ports-null-item",
        _set(("spec", "containers", 0, "ports"), [None], 1),
        "Pod/default/api-1: spec.containers[0].ports[0] is null, not a mapping: ignored",
    ),
    (
        "replicas-string",
        _append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "default"},
                "spec": {"replicas": "three", "selector": {"matchLabels": {"app": "api"}}},
            }
        ),
        "Deployment/default/api: spec.replicas is a string, not an integer: read as absent",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "warning"), [c[1:] for c in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES]
)
@pytest.mark.parametrize("command", ["diagnose", "lint"])
def test_a_wrongly_typed_field_is_absent_with_one_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Mutation,
    warning: str,
    command: str,
) -> None:
    documents = [dict(SERVICE), dict(POD)]
    documents = orjson.loads(orjson.dumps(documents))  # deep copies
    mutate(documents)
    path = bundle(tmp_path, documents)
    args = ["diagnose", "api", "--bundle", path] if command == "diagnose" else ["lint", path]
    code, out, err = run([*args, "--no-color"], capsys)
    assert "Traceback" not in err
    if warning:
        assert f"why5xx: {path}: document " in err
        assert warning in err
    if command == "diagnose":
        # The Service is still diagnosed: a report, not an input error.
        assert code in {0, 1, 3}, err
        assert "Service/default/api" in out
    else:
        # lint: the object is linted without the field (which may be a finding:
        # pods without their labels), and says so.
        assert code in {0, 1}, err
        assert "objects" in out


def test_a_valid_object_next_to_a_broken_one_is_still_diagnosed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = orjson.loads(orjson.dumps(SERVICE))
    broken["metadata"]["name"] = "other"
    broken["spec"] = "x"
    path = bundle(tmp_path, [SERVICE, POD, broken])
    code, out, _ = run(["diagnose", "api", "--bundle", path, "-o", "json"], capsys)
    report = orjson.loads(out)
    assert (code, report["status"]) == (0, "healthy")


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("[" * 5000 + "]" * 5000, "nested deeper than 1024 levels"),
        (
            '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": '
            + '{"a":' * 3000
            + "1"
            + "}" * 3000
            + "}",
            "nested deeper than 1024 levels",
        ),
    ],
    ids=["array", "object"],
)
def test_json_nested_beyond_the_decoder_limit_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, wanted: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    code, _, err = run(["diagnose", "api", "--bundle", str(path)], capsys)
    assert code == 2
    assert f"why5xx: {path}: {wanted}" in err
    assert err.endswith(f"why5xx: error: nothing usable in {path}\n")


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 200_000, "- " * 3000 + "x\n", "".join(" " * i + "a:\n" for i in range(400))],
    ids=["flow-bomb", "block-sequence", "block-mapping"],
)
def test_yaml_nested_deeply_ends_as_an_input_error_not_a_hang(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    # A subprocess with a generous bound: the slow parser took 23-53 s on this.
    done = subprocess.run(
        [sys.executable, "-m", "why5xx", "diagnose", "api", "--bundle", str(path), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.endswith(f"why5xx: error: nothing usable in {path}\n")


@pytest.mark.parametrize("value", ["-5", "nan", "0", "inf", "soon"])
def test_a_request_timeout_that_is_no_positive_number_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["diagnose", "api", f"--request-timeout={value}"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"why5xx diagnose: error: argument --request-timeout: {value!r} is not a positive "
        "number of seconds"
    )


def test_bench_min_top1_given_as_a_percentage_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["bench", "--min-top1", "95"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "why5xx bench: error: argument --min-top1: '95' is not a share between 0 and 1 "
        "(95% is 0.95)"
    )


def test_an_unexpected_error_is_one_line_and_exit_2_and_debug_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the disk\nis on fire")

    monkeypatch.setattr(api, "load_snapshot", broken)
    path = bundle(tmp_path, [SERVICE])
    code, _, err = run(["diagnose", "api", "--bundle", path], capsys)
    assert code == 2
    assert err == (
        f"why5xx: error: diagnose stopped on an unexpected RuntimeError reading {path}: "
        "the disk is on fire (--debug shows where; please report it)\n"
    )
    with pytest.raises(RuntimeError):
        main(["--debug", "diagnose", "api", "--bundle", path])
    with pytest.raises(RuntimeError):
        main(["diagnose", "api", "--bundle", path, "--debug"])
    monkeypatch.setenv("WHY5XX_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["diagnose", "api", "--bundle", path])


# --- kubeconfig problems common in real life ---------------------------------------


def _kubeconfig(tmp_path: Path, pki: Pki, **changes: Any) -> Path:
    path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", pki.ca_pem, {"c": {}})
    config = orjson.loads(path.read_bytes())
    for key, value in changes.items():
        section, field = key.split("__")
        if section == "top":
            config[field] = value
        else:
            config[section + "s"][0][section][field] = value
    path.write_bytes(orjson.dumps(config))
    return path


@pytest.mark.parametrize(
    ("changes", "wanted"),
    [
        (
            {"cluster__certificate-authority": "missing-ca.crt"},
            r"the kubeconfig of context c names certificate-authority .*missing-ca\.crt, "
            "which does not exist",
        ),
        (
            {"user__client-certificate": "/nowhere/client.crt", "user__client-key": "/k.key"},
            r"the kubeconfig of context c names client-certificate /nowhere/client\.crt, "
            "which does not exist",
        ),
        (
            {"cluster__certificate-authority-data": "not base64!"},
            r"the kubeconfig of context c holds \*-data that is not valid base64",
        ),
        ({"cluster__server": "https://[::1"}, r"the kubeconfig of context c cannot be used: "),
        ({"top__users": "u"}, r"cannot read kubeconfig .*: users is not a list of entries"),
        ({"top__contexts": [None]}, r"cannot read kubeconfig .*: contexts is not a list"),
    ],
    ids=["ca-file-missing", "client-cert-missing", "bad-base64", "bad-url", "users-string", "null"],
)
def test_a_broken_kubeconfig_is_one_line(
    tmp_path: Path,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, Any],
    wanted: str,
) -> None:
    if "cluster__certificate-authority" in changes:
        changes["cluster__certificate-authority-data"] = None
    path = _kubeconfig(tmp_path, pki, **changes)
    code, _, err = run(["diagnose", "api", "--kubeconfig", str(path)], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert re.match(r"why5xx: error: " + wanted, err), err


# --- hangs ----------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_a_credential_plugin_that_never_answers_is_stopped_with_its_children(
    tmp_path: Path, pki: Pki
) -> None:
    pids = tmp_path / "pids"
    plugin = tmp_path / "plugin"
    plugin.write_text(f"#!/bin/sh\nsleep 300 &\necho $! >> '{pids}'\necho $$ >> '{pids}'\nwait\n")
    plugin.chmod(0o755)
    config = write_kubeconfig(
        tmp_path / "kc", "https://127.0.0.1:1", pki.ca_pem, {"eks": exec_user(plugin)}
    )
    done = subprocess.run(
        [
            *(sys.executable, "-m", "why5xx", "diagnose", "--all", "--kubeconfig", str(config)),
            *("--request-timeout", "1", "--timeout", "5"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert re.fullmatch(
        r"why5xx: error: credential plugin \S+ did not answer within 1\.\d s "
        r"\(--request-timeout/--timeout\); it was stopped\n",
        done.stderr,
    ), done.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2  # run once, not once per waiting request
    assert not any(_alive(pid) for pid in started)


@contextmanager
def silent_server(tmp_path: Path, pki: Pki) -> Iterator[tuple[str, Path]]:
    """A server that accepts connections and never answers, and a kubeconfig for it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        yield url, write_kubeconfig(tmp_path / "kc", url, pki.ca_pem, {"slow": token_user("t")})


@pytest.mark.parametrize(
    "command", [["diagnose", "api"], ["diagnose", "--all"], ["lint", "--live"]]
)
def test_a_server_that_accepts_and_never_answers_costs_one_request_timeout(
    tmp_path: Path, pki: Pki, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with silent_server(tmp_path, pki) as (url, config):
        code, _, err = run(
            [*command, "--kubeconfig", str(config), "--request-timeout", "0.5"], capsys
        )
    assert code == 2
    assert re.fullmatch(
        rf"why5xx: error: the API server {re.escape(url)} \(context slow\) did not answer "
        r"within 0\.\d s \(--request-timeout\)\n",
        err,
    ), err


def test_the_overall_timeout_bounds_a_run_of_slow_answers(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with silent_server(tmp_path, pki) as (_, config):
        code, _, err = run(
            [
                *("diagnose", "api", "--kubeconfig", str(config)),
                *("--request-timeout", "5", "--timeout", "0.4"),
            ],
            capsys,
        )
    assert code == 2
    assert re.fullmatch(r".*did not answer within 0\.\d s \(the overall --timeout\)\n", err), err


def test_a_target_swallowed_by_bundle_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle(tmp_path, [SERVICE, POD])
    code, _, err = run(["diagnose", "--bundle", path, "checkout"], capsys)
    assert code == 2
    assert err == (
        "why5xx: error: --bundle took 'checkout', which is no file or directory: name the "
        "target before --bundle (why5xx diagnose checkout --bundle ...)\n"
    )


def test_a_missing_target_lists_what_the_input_holds_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"rules": []},
    }
    path = bundle(tmp_path, [SERVICE, POD, ingress])
    code, _, err = run(["diagnose", "ingress/missing", "--bundle", path], capsys)
    assert code == 2
    assert "Ingresses in the input: shop/web" in err
    assert "namespaces in the input: default, shop" in err
    assert "Ingresss" not in err


def test_control_characters_in_a_target_are_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle(tmp_path, [SERVICE, POD])
    code, _, err = run(["diagnose", "\x1b[31mred\x1b[0m", "--bundle", path], capsys)
    assert code == 2
    assert "\x1b" not in err
    assert "\\x1b[31mred" in err


def test_no_matching_workload_says_which_labels_the_pods_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lonely = orjson.loads(orjson.dumps(SERVICE))
    lonely["spec"]["selector"] = {"tier": "backend"}
    path = bundle(tmp_path, [lonely, POD])
    code, out, _ = run(["diagnose", "api", "--bundle", path, "-o", "json"], capsys)
    evidence = orjson.loads(out)["findings"][0]["evidence"][0]
    assert (code, evidence["field"]) == (1, "spec.selector")
    assert evidence["expected"] == "labels of a pod in default (no pod there has a tier label)"


def test_a_lint_config_with_a_misspelt_section_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / ".why5xx.yaml"
    config.write_text("lnit:\n  disable: [W5X101]\n")
    path = bundle(tmp_path, [SERVICE, POD])
    code, _, err = run(["lint", path, "--config", str(config)], capsys)
    assert code == 2
    assert err == f"why5xx: error: {config}: unknown key lnit (known: lint)\n"


def test_lint_fails_on_what_it_could_not_read_after_a_clean_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crd = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
    }
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    path = bundle(tmp_path, [crd])
    code, out, err = run(["lint", path, str(empty)], capsys)
    assert code == 1  # what could not be read was not checked (issue 11: not exit 2)
    assert "no problems in 1 object, 1 document not read" in out
    assert f"{empty}: empty file" in err
    assert run(["lint", path, str(empty), "--fail-on", "never"], capsys)[0] == 0
