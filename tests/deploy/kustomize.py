"""A small kustomize renderer for the manifests in docker/k8s, and lookups over what it renders.

The overlays use a subset of kustomize (resources, namespace, images, JSON 6902 patches) that
`render` implements; anything beyond it is refused loudly, so that a new kustomize feature in an
overlay fails the deployment tests instead of being silently ignored.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "docker" / "k8s"
OVERLAYS = ["dev", "prod", "prod-vllm"]
# The oldest Kubernetes minor still commonly run, and the newest the validator knows.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]

Doc = dict[str, Any]

# ---------------------------------------------------------------------------- rendering

SUPPORTED_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _json_patch(doc: Doc, ops: list[Doc]) -> None:
    """RFC 6902 add / remove / replace / test, enough for the overlays."""
    for op in ops:
        tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent: Any = doc
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        kind = op["op"]
        if isinstance(parent, list):
            if kind == "add":
                index = len(parent) if last == "-" else int(last)
                parent.insert(index, copy.deepcopy(op["value"]))
                continue
            index = int(last)
            if not 0 <= index < len(parent):
                raise KeyError(f"{op['path']}: no such index")
        elif kind in ("remove", "replace", "test") and last not in parent:
            raise KeyError(f"{op['path']}: no such member ({kind} needs an existing value)")
        else:
            index = last
        if kind in ("add", "replace"):
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[index]
        elif kind == "test":
            assert parent[index] == op["value"], f"test failed at {op['path']}"
        else:
            raise ValueError(f"JSON patch op {kind!r} is not supported by this renderer")


def split_image(image: str) -> tuple[str, str]:
    """('registry/name', ':tag' | '@sha256:...' | '')."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    head, sep, tail = image.rpartition(":")
    if sep and "/" not in tail:
        return head, ":" + tail
    return image, ""


def _set_images(node: Any, images: list[Doc]) -> None:
    if isinstance(node, dict):
        for key in ("containers", "initContainers"):
            for container in node.get(key) or []:
                if isinstance(container, dict) and "image" in container:
                    name, ref = split_image(container["image"])
                    for rule in images:
                        if rule["name"] == name:
                            name = rule.get("newName", name)
                            if "digest" in rule:
                                ref = "@" + rule["digest"]
                            elif "newTag" in rule:
                                ref = ":" + str(rule["newTag"])
                            container["image"] = name + ref
                            break
        for value in node.values():
            _set_images(value, images)
    elif isinstance(node, list):
        for value in node:
            _set_images(value, images)


def _matches(doc: Doc, target: Doc) -> bool:
    for key in ("kind", "name", "namespace", "group", "version"):
        if key not in target:
            continue
        if key == "name":
            actual = doc["metadata"]["name"]
        elif key == "namespace":
            actual = doc["metadata"].get("namespace")
        elif key == "kind":
            actual = doc["kind"]
        else:
            group, _, version = doc["apiVersion"].rpartition("/")
            actual = group if key == "group" else version
        if actual != target[key]:
            return False
    return True


def render(directory: Path) -> list[Doc]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_KUSTOMIZATION_KEYS
    assert not unsupported, (
        f"{directory}: {sorted(unsupported)} not supported by the test renderer; keep overlays to "
        "resources / namespace / images / JSON 6902 patches, or extend tests/deploy/test_k8s.py"
    )
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
    for patch in kustomization.get("patches", []):
        text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
        ops = yaml.safe_load(text)
        assert isinstance(ops, list), f"{directory}: only JSON 6902 patches are supported"
        targets = [d for d in docs if _matches(d, patch["target"])]
        assert targets, f"{directory}: patch target {patch['target']} matches no resource"
        for doc in targets:
            _json_patch(doc, ops)
    if kustomization.get("images"):
        _set_images(docs, kustomization["images"])
    if namespace := kustomization.get("namespace"):
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = namespace
    return docs


_RENDERED: dict[str, list[Doc]] = {}


def rendered(overlay: str) -> list[Doc]:
    if overlay not in _RENDERED:
        _RENDERED[overlay] = render(K8S / "overlays" / overlay)
    return copy.deepcopy(_RENDERED[overlay])


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def doc_key(doc: Doc) -> tuple[str, str, str]:
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
