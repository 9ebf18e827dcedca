"""The bundle source: every shape users hand us, and every way input goes bad."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import orjson
import pytest

from why5xx.snapshot import Snapshot
from why5xx.sources.bundle import load_bundle

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
  labels: {{app: api}}
status: {{phase: Running}}
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def names(bundle_objects: object) -> list[str]:
    return sorted(o.name for o in bundle_objects)  # type: ignore[attr-defined]


def test_multi_document_yaml_keeps_good_documents_around_a_broken_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pods.yaml",
        POD.format(name="a")
        + "---\nkind: Pod\nmetadata: {name: [unclosed\n---\n"
        + POD.format(name="c"),
    )
    bundle = load_bundle([str(path)])
    assert names(bundle.objects) == ["a", "c"]
    assert len(bundle.errors) == 1
    message = str(bundle.errors[0])
    assert message.startswith(f"{path}: document 2: ")
    assert "\n" not in message


def test_leading_separator_and_comments_do_not_shift_document_numbers(tmp_path: Path) -> None:
    text = "---\n# a comment\n" + POD.format(name="a") + "--- # next\n" + "- not an object\n"
    bundle = load_bundle([str(write(tmp_path, "x.yml", text))])
    assert names(bundle.objects) == ["a"]
    assert [str(e).split(": ")[1] for e in bundle.errors] == ["document 2"]
    assert "not a Kubernetes object" in str(bundle.errors[0])


def test_typed_list_items_without_kind_take_it_from_the_list(tmp_path: Path) -> None:
    """client-go's typed lists (kubectl cluster-info dump) leave kind off items."""
    pod_list = {
        "kind": "PodList",
        "apiVersion": "v1",
        "items": [{"metadata": {"name": "a", "namespace": "shop"}, "status": {}}],
    }
    bundle = load_bundle([str(write(tmp_path, "pods.json", orjson.dumps(pod_list)))])
    assert [(o.kind, o.api_version, o.name) for o in bundle.objects] == [("Pod", "v1", "a")]


def test_cluster_info_dump_layout(tmp_path: Path) -> None:
    """`kubectl cluster-info dump --output-directory`: JSON lists per kind and
    namespace, concatenated JSON on stdout, and container logs to skip."""
    services = {
        "kind": "ServiceList",
        "apiVersion": "v1",
        "items": [
            {"metadata": {"name": "api", "namespace": "shop"}, "spec": {"selector": {"app": "api"}}}
        ],
    }
    pods = {
        "kind": "PodList",
        "apiVersion": "v1",
        "items": [{"metadata": {"name": "api-1", "namespace": "shop", "labels": {"app": "api"}}}],
    }
    write(tmp_path, "shop/services.json", orjson.dumps(services))
    write(tmp_path, "shop/pods.json", orjson.dumps(pods))
    write(tmp_path, "shop/api-1/logs.txt", "Started server on :8080\n")
    write(
        tmp_path, "nodes.json", orjson.dumps({"kind": "NodeList", "apiVersion": "v1", "items": []})
    )
    bundle = load_bundle([str(tmp_path)])
    assert not bundle.errors
    assert sorted((o.kind, o.name) for o in bundle.objects) == [
        ("Pod", "api-1"),
        ("Service", "api"),
    ]
    assert not any(f.endswith("logs.txt") for f in bundle.files)


def test_concatenated_json_documents(tmp_path: Path) -> None:
    one = orjson.dumps({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "a"}})
    two = orjson.dumps({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "b"}})
    bundle = load_bundle([str(write(tmp_path, "dump.json", one + b"\n" + two + b"\n{broken"))])
    assert names(bundle.objects) == ["a", "b"]
    assert len(bundle.errors) == 1
    assert "document 3" in str(bundle.errors[0])


def test_managed_fields_and_secret_data_are_dropped(tmp_path: Path) -> None:
    text = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: db, namespace: shop}
  data: {password: aHVudGVyMg==}
  stringData: {token: hunter2}
- apiVersion: v1
  kind: Service
  metadata:
    name: api
    namespace: shop
    managedFields: [{manager: kubectl, operation: Apply}]
"""
    bundle = load_bundle([str(write(tmp_path, "x.yaml", text))])
    by_kind = {o.kind: o for o in bundle.objects}
    assert "managedFields" not in by_kind["Service"].metadata
    assert "data" not in by_kind["Secret"].raw
    assert b"hunter2" not in orjson.dumps([o.raw for o in bundle.objects])
    assert b"aHVudGVyMg" not in orjson.dumps([o.raw for o in bundle.objects])


def test_unknown_kinds_are_kept(tmp_path: Path) -> None:
    text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\n"
    snap = Snapshot.build(load_bundle([str(write(tmp_path, "w.yaml", text))]).objects)
    assert [o.name for o in snap.list("Widget", "shop")] == ["w"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.yaml", "", "empty file"),
        ("blank.json", "  \n", "empty file"),
        ("truncated.json", '{"kind": "Service", "metadata": {"na', "unexpected"),
        ("scalar.yaml", "just a string\n", "not a Kubernetes object"),
        ("nokind.yaml", "metadata: {name: x}\n", "without kind"),
        ("binary.yaml", b"\xff\xfe\x00garbage\x00", ""),
        ("tabs.yaml", "kind: Pod\n\tmetadata: x\n", ""),
    ],
)
def test_bad_files_give_one_line_naming_the_file(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = write(tmp_path, name, content)
    bundle = load_bundle([str(path)])
    assert not bundle.objects
    assert len(bundle.errors) == 1
    message = str(bundle.errors[0])
    assert message.startswith(str(path))
    assert expected.lower() in message.lower()
    assert "\n" not in message
    assert "Traceback" not in message


def test_objects_without_a_name_are_kept_under_stable_placeholders(tmp_path: Path) -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "spec: {host: checkout}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: checkout}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {}\n"
    )
    path = write(tmp_path, "excerpts.yaml", text)
    for _ in range(2):  # the same names on every read
        bundle = load_bundle([str(path)])
        assert not bundle.errors
        names = [(o.kind, o.name) for o in bundle.objects]
        assert names == [
            ("DestinationRule", "unnamed-destinationrule-1"),
            ("Pod", "unnamed-pod-1"),
            ("DestinationRule", "unnamed-destinationrule-2"),
        ]
        assert [str(w) for w in bundle.warnings][1] == (
            f"{path}: document 2: Pod without metadata.name: read as unnamed-pod-1"
        )
    assert bundle.objects[1].labels == {"app": "checkout"}
    # lint cannot apply such an object: there it stays an error
    assert len(load_bundle([str(path)], unnamed=False).errors) == 3


def test_objects_without_a_namespace_go_where_kubectl_apply_n_puts_them(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: checkout}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: ops}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\n"
    )
    bundle = load_bundle([str(write(tmp_path, "repo.yaml", text))])
    snap = bundle.snapshot("shop")
    assert snap.get("Service", "shop", "checkout") is not None
    assert snap.get("Service", "ops", "other") is not None
    assert snap.get("IngressClass", "", "nginx") is not None
    assert bundle.snapshot().get("Service", "default", "checkout") is not None


def test_only_kinds_that_came_in_a_list_are_listed_in_full(tmp_path: Path) -> None:
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "shop"}}
        ],
    }
    loose = "apiVersion: v1\nkind: Service\nmetadata: {name: checkout, namespace: shop}\n"
    snap = load_bundle(
        [
            str(write(tmp_path, "pods.json", orjson.dumps(listed))),
            str(write(tmp_path, "s.yaml", loose)),
        ]
    ).snapshot()
    assert snap.listed_in_full("Pod", "shop")
    assert not snap.listed_in_full("Pod", "ops")
    assert not snap.listed_in_full("Service", "shop")  # one Service pasted is not all of them


def test_endpoint_slices_without_the_service_label_are_linked_by_name(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: check-out, namespace: shop}\n---\n"
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: check-out-x7k2p, namespace: shop}\naddressType: IPv4\n"
        "endpoints: [{addresses: [10.0.0.1]}]\n"
    )
    snap = load_bundle([str(write(tmp_path, "eps.yaml", text))]).snapshot()
    assert [s.name for s in snap.endpoint_slices("shop", "check-out")] == ["check-out-x7k2p"]


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    bundle = load_bundle([str(tmp_path / "nope.yaml"), str(tmp_path / "empty")])
    assert [e.message for e in bundle.errors] == [
        "no such file or directory",
        "no .yaml, .yml or .json files in this directory",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    directory_named_like_a_file = tmp_path / "x.yaml"
    directory_named_like_a_file.mkdir()
    (directory_named_like_a_file / "inner.yaml").write_text(POD.format(name="a"))
    bundle = load_bundle([str(directory_named_like_a_file)])
    assert names(bundle.objects) == ["a"]


def test_stdin_yaml_and_json() -> None:
    yaml_in = io.BytesIO(POD.format(name="a").encode())
    assert names(load_bundle(["-"], stdin=yaml_in).objects) == ["a"]
    json_in = io.BytesIO(orjson.dumps({"kind": "Pod", "metadata": {"name": "b"}}))
    assert names(load_bundle(["-"], stdin=json_in).objects) == ["b"]


def test_gzipped_files_are_read_and_broken_gzip_is_one_error(tmp_path: Path) -> None:
    write(tmp_path, "pods.yaml.gz", gzip.compress(POD.format(name="a").encode()))
    write(tmp_path, "svc.json.gz", gzip.compress(b'{"kind": "Service", "metadata": {"name": "b"}}'))
    write(tmp_path, "broken.yaml.gz", gzip.compress(POD.format(name="c").encode())[:20])
    bundle = load_bundle([str(tmp_path)])
    assert names(bundle.objects) == ["a", "b"]
    assert [e.source for e in bundle.errors] == [str(tmp_path / "broken.yaml.gz")]
    assert "gzip" in bundle.errors[0].message


def test_core_and_events_k8s_io_events_normalise_to_one_shape(tmp_path: Path) -> None:
    text = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Event
  metadata: {name: api-1.a, namespace: shop}
  involvedObject: {kind: Pod, name: api-1, namespace: shop, fieldPath: "spec.containers{api}"}
  reason: Unhealthy
  message: "Readiness probe failed: HTTP probe failed with statuscode: 404"
  type: Warning
  count: 12
  firstTimestamp: "2026-11-20T08:00:00Z"
  lastTimestamp: "2026-11-20T08:10:00Z"
  source: {component: kubelet, host: node-a}
- apiVersion: events.k8s.io/v1
  kind: Event
  metadata: {name: api-1.b, namespace: shop}
  regarding: {kind: Pod, name: api-1, namespace: shop}
  reason: BackOff
  note: Back-off restarting failed container api in pod api-1_shop(uid)
  type: Warning
  eventTime: "2026-11-20T08:11:00.000000Z"
  series: {count: 7, lastObservedTime: "2026-11-20T08:12:00.000000Z"}
  reportingController: kubelet
"""
    snap = Snapshot.build(load_bundle([str(write(tmp_path, "ev.yaml", text))]).objects)
    events = snap.events_for("Pod", "shop", "api-1")
    assert [(e.reason, e.count, e.component) for e in events] == [
        ("Unhealthy", 12, "kubelet"),
        ("BackOff", 7, "kubelet"),
    ]
    assert events[0].field_path == "spec.containers{api}"
    assert events[1].message.startswith("Back-off restarting")
    assert snap.now.isoformat() == "2026-11-20T08:12:00+00:00"


def test_tar_archives_are_read_member_by_member(tmp_path: Path) -> None:
    """`why5xx capture -o incident.tar.gz` writes an archive; --bundle reads it."""
    archive = tmp_path / "incident.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in (
            ("incident/pods.yaml", POD.format(name="a")),
            ("incident/broken.json", '{"kind": '),
            ("incident/notes.txt", "not a manifest"),
        ):
            path = write(tmp_path, name, text)
            tar.add(path, arcname=name)
    bundle = load_bundle([str(archive)])
    assert names(bundle.objects) == ["a"]
    assert bundle.objects[0].source == f"bundle:{archive}:incident/pods.yaml"
    assert [e.source for e in bundle.errors] == [f"{archive}:incident/broken.json"]

    truncated = write(tmp_path, "cut.tar.gz", archive.read_bytes()[:60])
    bundle = load_bundle([str(truncated)])
    assert not bundle.objects
    assert [e.source for e in bundle.errors] == [str(truncated)]
    assert bundle.errors[0].message.startswith("cannot read the archive")
