"""Partial input, as people have it: manifests from a repository, a Service
alone, a Deployment and an Ingress without their Service. The report says
what it rests on (`likely` on pod templates), never reads "unknown" as
healthy (exit 3), and ends with what to capture next."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from why5xx.cli import main
from why5xx.sources import kubeyaml

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: checkout
  labels: {app: checkout}
spec:
  selector: {app: checkout, version: v2}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 3
  selector: {matchLabels: {app: checkout}}
  template:
    metadata:
      labels: {app: checkout, version: v3}
    spec:
      containers:
      - name: app
        image: shop/checkout:3
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}}
        lifecycle: {preStop: {sleep: {seconds: 10}}}
"""
INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: storefront
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: checkout, port: {number: 80}}}
"""
CRASHING_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: checkout-6f9c7d8b5d-x2m4q
  namespace: shop
  labels: {app: checkout, pod-template-hash: 6f9c7d8b5d}
spec:
  containers: [{name: app, image: shop/checkout:3}]
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-11-20T08:58:00Z"}]
  containerStatuses:
  - name: app
    ready: false
    restartCount: 7
    image: shop/checkout:3
    state: {waiting: {reason: CrashLoopBackOff, message: back-off 5m0s restarting failed container}}
    lastState:
      terminated: {exitCode: 1, reason: Error, finishedAt: "2026-11-20T08:58:00Z"}
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def repo(tmp_path: Path, **files: str) -> str:
    root = tmp_path / "k8s"
    root.mkdir()
    for name, text in files.items():
        (root / f"{name}.yaml").write_text(text)
    return str(root)


def test_manifests_from_a_repository_name_the_cause_as_likely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = repo(tmp_path, service=SERVICE, deployment=DEPLOYMENT)
    code, out, err = run(["diagnose", "checkout", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 1
    assert err == ""
    assert out.splitlines()[0] == "~ Service/shop/checkout  LIKELY (503): selector-mismatch"
    assert "[from Deployment/shop/checkout template]" in out
    assert "checkout-deployment" not in out  # the stand-in pod is never named
    capture = out[out.index("Capture next") :]
    assert "$ kubectl get pods -n shop -l app=checkout,version=v2 -o yaml" in capture

    code, out, _ = run(
        ["diagnose", "checkout", "-n", "shop", "--bundle", bundle, "-o", "json"], capsys
    )
    document = orjson.loads(out)
    assert document["status"] == "likely"
    assert document["verdict"] == "selector-mismatch"
    finding = document["findings"][0]
    assert finding["confidence"] < 0.9  # a template is not a running pod
    sources = {e["object"]: e.get("source") for e in finding["evidence"]}
    assert sources["Deployment/shop/checkout"] == "from Deployment/shop/checkout template"
    assert document["capture_next"][0].startswith("kubectl get pods -n shop")


def test_all_services_of_a_repository_go_to_the_namespace_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = repo(tmp_path, service=SERVICE, deployment=DEPLOYMENT)
    code, out, _ = run(["diagnose", "--all", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 1
    assert "Service/shop/checkout" in out
    code, out, _ = run(["diagnose", "--all", "--bundle", bundle], capsys)
    assert "Service/default/checkout" in out  # no -n: default, as kubectl apply


def test_unknown_exits_3_and_says_what_to_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = SERVICE.replace("version: v2", "version: v3")
    bundle = repo(tmp_path, service=fixed, deployment=DEPLOYMENT)
    code, out, _ = run(["diagnose", "checkout", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 3  # never 0: a CI gate must not read "unknown" as "healthy"
    assert out.startswith("? Service/shop/checkout  UNKNOWN")
    assert "Capture next" in out
    assert "kubectl get endpointslices -n shop -l kubernetes.io/service-name=checkout" in out


def test_skipped_rules_are_counted_and_listed_with_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = repo(tmp_path, service=SERVICE, deployment=DEPLOYMENT)
    _, out, _ = run(["diagnose", "checkout", "-n", "shop", "--bundle", bundle], capsys)
    counted = [line for line in out.splitlines() if "not checked" in line]
    assert len(counted) == 1
    assert "rules not checked for lack of input (-v lists them)" in counted[0]
    _, out, _ = run(["diagnose", "checkout", "-n", "shop", "--bundle", bundle, "-v"], capsys)
    assert "  Not checked" in out
    assert "network-policy-block: no NetworkPolicy objects in the input" in out


def test_a_service_not_in_the_input_is_diagnosed_through_what_relates_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = repo(tmp_path, pod=CRASHING_POD, ingress=INGRESS)
    code, out, _ = run(["diagnose", "checkout", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("~ Service/shop/checkout  LIKELY")  # the relation is inferred
    assert "crash-loop" in lines[0]
    assert "Service shop/checkout was not in the input" in lines[1]
    assert "Ingress/shop/storefront" in lines[1]
    assert "$ kubectl get service -n shop checkout -o yaml" in out


def test_nothing_related_exits_2_naming_what_the_input_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    placed = SERVICE.replace("  name: checkout\n", "  name: checkout\n  namespace: shop\n")
    bundle = repo(tmp_path, service=placed)
    code, out, err = run(["diagnose", "payments", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "why5xx: error: service/payments not found in namespace 'shop'; Services there: checkout\n"
    )
    code, _, err = run(["diagnose", "checkout", "-n", "ops", "--bundle", bundle], capsys)
    assert code == 2
    assert "Services in the input: shop/checkout; namespaces in the input: shop" in err
    code, _, err = run(["diagnose", "--all", "-n", "ops", "--bundle", bundle], capsys)
    assert code == 2
    assert "Services in the input: shop/checkout; namespaces: shop" in err


def test_objects_without_a_name_are_read_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unnamed = SERVICE.replace("  name: checkout\n", "")
    bundle = repo(tmp_path, service=unnamed, deployment=DEPLOYMENT)
    code, out, err = run(
        ["diagnose", "unnamed-service-1", "-n", "shop", "--bundle", bundle], capsys
    )
    assert code == 1
    assert "Service without metadata.name: read as unnamed-service-1" in err
    assert "selector-mismatch" in out.splitlines()[0]


VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: details-test-delay
spec:
  hosts: [details]
  http:
  - fault: {delay: {fixedDelay: 2s, percent: 100}}
    route:
    - destination: {host: details, subset: v1}
"""


def test_a_subset_no_destination_rule_in_the_input_defines_is_a_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """istio/istio#6335: a VirtualService alone, routing to subset v1. Istio
    needs a DestinationRule to define it; the input holds none, which proves
    nothing, so the cause is `likely` and Capture next asks for them."""
    bundle = repo(tmp_path, virtualservice=VIRTUAL_SERVICE)
    code, out, _ = run(["diagnose", "details", "--bundle", bundle, "-o", "json"], capsys)
    document = orjson.loads(out)
    assert code == 1
    assert document["status"] == "likely"
    assert document["verdict"] == "mesh-destination-missing"
    assert document["findings"][0]["severity"] == "warning"
    assert "kubectl get destinationrules -n default -o yaml" in document["capture_next"]
    assert document["notes"] == [
        "Service default/details was not in the input: diagnosed what relates to it "
        "(VirtualService/default/details-test-delay)"
    ]


def test_a_workload_named_for_the_service_stands_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kubernetes/kubernetes#81092: a Deployment neg-demo-app posted for the
    Service neg-demo-svc: the same app but for the word "svc"."""
    deployment = DEPLOYMENT.replace("name: checkout\n", "name: neg-demo-app\n", 1)
    deployment = deployment.replace("{app: checkout, version: v3}", "{run: neg-demo-app}")
    bundle = repo(tmp_path, deployment=deployment)
    code, out, _ = run(["diagnose", "neg-demo-svc", "--bundle", bundle], capsys)
    assert code == 3
    assert "(Deployment/default/neg-demo-app)" in out.splitlines()[1]
    code, _, err = run(["diagnose", "payments-svc", "--bundle", bundle], capsys)
    assert "Services in the input" not in err  # no Service at all
    assert code == 2


NGINX_INC_CLASS = """\
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: nginx.org/ingress-controller}
"""


def test_an_annotation_the_controller_does_not_read_is_named_with_the_ingress_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nginx/kubernetes-ingress#1724: the community backend-protocol annotation
    on an Ingress that NGINX Inc.'s controller serves; the backend Service is
    not in the input: the route's own facts decide."""
    ingress = INGRESS.replace(
        "metadata:\n  name: storefront\n",
        "metadata:\n  name: storefront\n  annotations:\n"
        "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n",
    )
    bundle = repo(tmp_path, ingress=ingress, ingressclass=NGINX_INC_CLASS)
    code, out, _ = run(["diagnose", "ingress/storefront", "-n", "shop", "--bundle", bundle], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "✗ Ingress/shop/storefront  FAILING (502): backend-protocol-mismatch"
    assert "Service shop/checkout was not in the input" in lines[1]
    assert "does not read" in lines[2]
    assert "nginx.org/ssl-services=checkout" in out
    community = NGINX_INC_CLASS.replace("nginx.org/ingress-controller", "k8s.io/ingress-nginx")
    (tmp_path / "k8s" / "ingressclass.yaml").write_text(community)
    code, out, _ = run(["diagnose", "ingress/storefront", "-n", "shop", "--bundle", bundle], capsys)
    assert "backend-protocol-mismatch" not in out  # the controller that reads it


def test_a_backend_service_missing_from_a_partial_input_is_only_a_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = SERVICE.replace("name: checkout\n", "name: payments\n", 1)
    bundle = repo(tmp_path, ingress=INGRESS, service=other)
    args = ["diagnose", "ingress/storefront", "-n", "shop", "--bundle", bundle, "-o", "json"]
    code, out, _ = run(args, capsys)
    document = orjson.loads(out)
    assert code == 1
    assert document["status"] == "likely"
    top = document["findings"][0]
    assert (top["cause"], top["severity"]) == ("ingress-backend-missing", "warning")
    assert "which is not in the input in namespace shop" in top["title"]
    assert "kubectl get service -n shop checkout -o yaml" in document["capture_next"]
    listed = {"apiVersion": "v1", "kind": "List", "items": [kubeyaml.load(other)]}
    (tmp_path / "k8s" / "service.yaml").write_text(orjson.dumps(listed).decode())
    code, out, _ = run(args, capsys)  # `kubectl get services -o yaml`: all of them
    document = orjson.loads(out)
    assert document["status"] == "failing"
    assert "which does not exist in namespace shop" in document["findings"][0]["title"]
