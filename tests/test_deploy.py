"""The manifests that run `why5xx watch` pass our own lint with nothing to say,
and grant no more than list and watch."""

from __future__ import annotations

from pathlib import Path

import yaml

from why5xx import api

BASE = Path(__file__).resolve().parent.parent / "deploy" / "kustomize" / "base"


def test_the_kustomize_base_lints_clean() -> None:
    report = api.lint([str(BASE)], namespace="why5xx")
    assert report.objects >= 6
    assert [f"{f.code} {f.message}" for f in report.active] == []


def test_the_cluster_role_only_reads_and_the_only_write_is_the_lease() -> None:
    documents = list(yaml.safe_load_all((BASE / "rbac.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources
    leader = next(d for d in documents if d["kind"] == "Role")
    assert leader["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }
    ]
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"
    )
