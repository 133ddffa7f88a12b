"""Kubernetes manifests in docker/k8s: render each overlay, validate it, check what issue 8 asks.

No cluster and no kustomize binary are needed: the overlays use a small subset of kustomize
(resources, namespace, images, JSON 6902 patches) that `tests.deploy.kustomize.render`
implements, and that subset is refused loudly when an overlay goes beyond it. Where `kubectl`
is installed, the rendering is also compared with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.keda_schema import (
    REDIS_TRIGGER_KEYS,
    SCALED_OBJECT_SCHEMA,
    TRIGGER_AUTH_SCHEMA,
)
from tests.deploy.kustomize import (
    K8S,
    K8S_VERSIONS,
    OVERLAYS,
    REPO,
    Doc,
    doc_key,
    find,
    pod_spec,
    render,
    rendered,
    split_image,
    workloads,
)

# ---------------------------------------------------------------------------- rendering tests


def test_base_lists_every_manifest_file() -> None:
    listed = set(yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_without_duplicates(overlay: str) -> None:
    docs = rendered(overlay)
    keys = [doc_key(d) for d in docs]
    assert len(keys) == len(set(keys))
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert len(namespaces) == 1
    expected_ns = namespaces[0]["metadata"]["name"]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        expected_ns
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed; the built-in renderer is used alone")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    theirs = {doc_key(d): d for d in yaml.safe_load_all(out) if d}
    ours = {doc_key(d): d for d in rendered(overlay)}
    assert sorted(theirs) == sorted(ours)
    for key, doc in ours.items():
        assert json.dumps(doc, sort_keys=True) == json.dumps(theirs[key], sort_keys=True), key


def test_renderer_refuses_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(AssertionError, match="commonLabels"):
        render(tmp_path)


# ---------------------------------------------------------------------------- schema validation


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_validate_against_kubernetes_schemas(overlay: str, version: str) -> None:
    errors = []
    for doc in rendered(overlay):
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: validated by test_keda_objects_are_valid
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{doc_key(doc)} at {list(error.path)}: {error.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_catches_a_broken_manifest() -> None:
    web = find(rendered("prod"), "Deployment", "web")
    typo = copy.deepcopy(web)
    typo["spec"]["replica"] = 2  # unknown field: caught by strict mode
    wrong_type = copy.deepcopy(web)
    pod_spec(wrong_type)["terminationGracePeriodSeconds"] = "forty-five"
    for broken in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_objects_are_valid(overlay: str) -> None:
    docs = rendered(overlay)
    keda = [d for d in docs if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for doc in keda:
        schema = SCALED_OBJECT_SCHEMA if doc["kind"] == "ScaledObject" else TRIGGER_AUTH_SCHEMA
        jsonschema.validate(doc, schema)
        if doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"]["secretTargetRef"]:
                assert ref["key"] in secrets[ref["name"]]["stringData"], ref
            continue
        spec = doc["spec"]
        target = find(
            docs, spec["scaleTargetRef"].get("kind", "Deployment"), spec["scaleTargetRef"]["name"]
        )
        assert "replicas" not in target["spec"], "KEDA owns the replica count"
        assert spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]
        for trigger in spec["triggers"]:
            assert trigger["type"] == "redis"
            assert set(trigger["metadata"]) <= REDIS_TRIGGER_KEYS
            assert int(trigger["metadata"]["listLength"]) >= 1
            find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])


def test_keda_check_catches_a_broken_scaled_object() -> None:
    scaled = find(rendered("prod"), "ScaledObject", "worker-gpu")
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 2  # not a string
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)
    scaled = find(rendered("prod"), "ScaledObject", "worker-gpu")
    scaled["spec"]["minReplicas"] = 0  # HPA spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)


# ---------------------------------------------------------------------------- what issue 8 asks


def _containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _command(container: Doc) -> list[str]:
    return list(container.get("command", [])) + list(container.get("args", []))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_deployment_service_ingress_hpa_pdb(overlay: str) -> None:
    docs = rendered(overlay)
    web = find(docs, "Deployment", "web")
    (container,) = pod_spec(web)["containers"]
    assert _command(container)[:2] == ["gunicorn", "config.wsgi:application"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in web["spec"], "the HPA owns the replica count"
    pod_labels = web["spec"]["template"]["metadata"]["labels"]

    service = find(docs, "Service", "web")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    target_port = service["spec"]["ports"][0]["targetPort"]
    assert target_port in {p["name"] for p in container["ports"]}

    ingress = find(docs, "Ingress", "web")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}

    hpa = find(docs, "HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    pdb = find(docs, "PodDisruptionBudget", "web")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    if overlay == "prod":
        assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
        assert hpa["spec"]["minReplicas"] >= 2


def test_gpu_worker() -> None:
    docs = rendered("prod")
    worker = find(docs, "Deployment", "worker-gpu")
    spec = pod_spec(worker)
    (container,) = spec["containers"]
    command = _command(container)
    assert command[:4] == ["celery", "-A", "config", "worker"]
    assert command[command.index("-Q") + 1] == "gpu,default"
    assert "--concurrency=1" in command
    assert "--prefetch-multiplier=1" in command
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"]
    assert any(
        t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in spec["tolerations"]
    )
    # Longer than a batch: Celery's warm shutdown finishes the running task on SIGTERM.
    assert spec["terminationGracePeriodSeconds"] >= 1800
    assert worker["spec"]["progressDeadlineSeconds"] > spec["terminationGracePeriodSeconds"]
    liveness = " ".join(container["livenessProbe"]["exec"]["command"])
    assert "celery -A config inspect ping" in liveness
    assert "celery@${HOSTNAME}" in liveness
    assert container["livenessProbe"]["timeoutSeconds"] >= 10
    assert worker["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True

    scaled = find(docs, "ScaledObject", "worker-gpu")
    assert scaled["spec"]["minReplicaCount"] == 0, "GPU workers scale to zero"
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == "gpu"


def test_dev_runs_the_gpu_worker_on_cpu() -> None:
    worker = find(rendered("dev"), "Deployment", "worker-gpu")
    spec = pod_spec(worker)
    assert "nodeSelector" not in spec
    assert "tolerations" not in spec
    assert "nvidia.com/gpu" not in json.dumps(spec["containers"])
    assert spec["containers"][0]["image"].endswith("-cpu")


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("queue", ["online", "default"])
def test_online_and_default_workers_are_kept_warm(overlay: str, queue: str) -> None:
    # `default` must not wait for the GPU workers, which scale to zero on `gpu` alone.
    docs = rendered(overlay)
    worker = find(docs, "Deployment", f"worker-{queue}")
    command = _command(pod_spec(worker)["containers"][0])
    assert command[command.index("-Q") + 1] == queue
    assert "nvidia.com/gpu" not in json.dumps(pod_spec(worker))
    scaled = find(docs, "ScaledObject", f"worker-{queue}")
    assert scaled["spec"]["minReplicaCount"] >= 1
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == queue


def _contains(command: list[str], args: list[str]) -> bool:
    return any(command[i:i + len(args)] == args for i in range(len(command)))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_online_workers_run_tasks_in_threads_as_make_run_does(overlay: str) -> None:
    # Concurrent chat messages must reach one process to share a forward pass
    # (workers/runtime/microbatch.py): the thread pool, as runlocal and the benchmark use it.
    from console.management.commands.runlocal import ONLINE_WORKER_ARGS

    worker = find(rendered(overlay), "Deployment", "worker-online")
    command = _command(pod_spec(worker)["containers"][0])
    assert "--pool=threads" in ONLINE_WORKER_ARGS
    assert _contains(command, ONLINE_WORKER_ARGS)


def test_every_queue_has_a_consumer_that_never_scales_to_zero_unless_gpu() -> None:
    docs = rendered("prod")
    consumers: dict[str, int] = {}
    for scaled in (d for d in docs if d["kind"] == "ScaledObject"):
        worker = find(docs, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        command = _command(pod_spec(worker)["containers"][0])
        for queue in command[command.index("-Q") + 1].split(","):
            consumers[queue] = max(consumers.get(queue, 0), scaled["spec"]["minReplicaCount"])
    assert set(consumers) == {"gpu", "online", "default"}
    assert consumers["gpu"] == 0
    assert consumers["online"] >= 1
    assert consumers["default"] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_beat_is_a_single_recreated_replica(overlay: str) -> None:
    beat = find(rendered(overlay), "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert _command(pod_spec(beat)["containers"][0])[:4] == ["celery", "-A", "config", "beat"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_job_runs_before_new_pods_serve(overlay: str) -> None:
    docs = rendered(overlay)
    job = find(docs, "Job", "migrate")
    assert pod_spec(job)["restartPolicy"] == "Never"
    (container,) = pod_spec(job)["containers"]
    assert _command(container) == ["python", "manage.py", "migrate", "--noinput"]
    for name in ("web", "worker-gpu", "worker-online", "worker-default"):
        (init,) = pod_spec(find(docs, "Deployment", name))["initContainers"]
        assert _command(init) == ["python", "manage.py", "migrate", "--check"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened_and_sized(overlay: str) -> None:
    docs = rendered(overlay)
    for doc in workloads(docs):
        template = doc["spec"]["template"]
        selector = doc["spec"]["selector"]["matchLabels"] if doc["kind"] != "Job" else {}
        assert selector.items() <= template["metadata"]["labels"].items(), doc_key(doc)
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, doc_key(doc)
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False, doc_key(doc)
        for container in _containers(doc):
            where = (*doc_key(doc), container["name"])
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            _, ref = split_image(container["image"])
            assert ref not in {"", ":latest"}, f"{where}: image {container['image']} not pinned"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_and_placeholder_secret(overlay: str) -> None:
    docs = rendered(overlay)
    config = find(docs, "ConfigMap", "aiplatform-config")["data"]
    secret = find(docs, "Secret", "aiplatform-secrets")["stringData"]
    assert not set(config) & set(secret)
    settings = {
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_SSL_REDIRECT",
        "STORAGE_BACKEND",
        "AWS_STORAGE_BUCKET_NAME",
        "EMAIL_URL",
        "DEFAULT_FROM_EMAIL",
        "LOG_LEVEL",
        "MODEL_CACHE_SIZE",
    }
    assert settings <= set(config) | set(secret)
    assert config["DEBUG"] == "false"
    assert "localhost" in config["ALLOWED_HOSTS"].split(","), "probes send Host: localhost"
    for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "REDIS_PASSWORD"):
        assert "CHANGE_ME" in secret[key], f"{key} must stay a placeholder in the repository"
    assert "data" not in find(docs, "Secret", "aiplatform-secrets")
    # Every envFrom / secretKeyRef points at something that exists.
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for doc in workloads(docs):
        for container in _containers(doc):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in names


def test_dev_postgres_init_script_is_the_compose_one() -> None:
    initdb = find(rendered("dev"), "ConfigMap", "postgres-initdb")["data"]["10-app-role.sh"]
    assert initdb == (REPO / "docker" / "postgres" / "10-app-role.sh").read_text()


# ---------------------------------------------------------------------------- network policies


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def _rules(docs: list[Doc], labels: dict[str, str], direction: str) -> list[Doc]:
    key = "egress" if direction == "Egress" else "ingress"
    return [
        rule
        for policy in docs
        if policy["kind"] == "NetworkPolicy"
        and direction in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(key, [])
    ]


def _port_allowed(rule: Doc, port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def _pod_labels(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in workloads(docs)
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_web_and_workers_reach_postgres_and_redis(overlay: str) -> None:
    docs = rendered(overlay)
    deny = find(docs, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny

    pods = _pod_labels(docs)
    workers = {"worker-gpu", "worker-online", "worker-default"}
    platform = {"web", *workers, "beat", "migrate"}
    assert platform <= set(pods)
    for port, clients in (
        (5432, {"web", *workers, "migrate"}),
        (6379, {"web", *workers, "beat"}),
    ):
        allowed = {
            name
            for name, labels in pods.items()
            if any(_port_allowed(rule, port) for rule in _rules(docs, labels, "Egress"))
        }
        assert allowed & platform == clients, port
        if overlay == "dev":  # in-cluster servers: their ingress admits the same clients only
            server = "postgres" if port == 5432 else "redis"
            rules = _rules(docs, pods[server], "Ingress")
            admitted = {
                name
                for name, labels in pods.items()
                for rule in rules
                if _port_allowed(rule, port)
                and any(
                    "podSelector" in peer
                    and "namespaceSelector" not in peer
                    and _selects(peer["podSelector"], labels)
                    for peer in rule["from"]
                )
            }
            assert admitted == clients, server
    # Nobody may talk to the cloud metadata endpoint.
    for policy in docs:
        if policy["kind"] != "NetworkPolicy":
            continue
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0":
                    assert "169.254.0.0/16" in peer["ipBlock"]["except"]
                    assert "ports" in rule


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_controller_reaches_web(overlay: str) -> None:
    docs = rendered(overlay)
    pods = _pod_labels(docs)
    for name, labels in pods.items():
        rules = _rules(docs, labels, "Ingress")
        if name == "web":
            assert rules
            for rule in rules:
                assert [p["port"] for p in rule["ports"]] == [8000]
                assert all("namespaceSelector" in peer for peer in rule["from"])
        elif name in {"worker-gpu", "worker-online", "worker-default", "beat", "migrate"}:
            assert rules == [], f"{name} accepts no connections"


# ---------------------------------------------------------------------------- optional vLLM


def test_vllm_is_off_by_default_and_a_gpu_service_when_chosen() -> None:
    for overlay in ("dev", "prod"):
        docs = rendered(overlay)
        assert not [d for d in docs if d["metadata"]["name"].startswith("vllm")], overlay
        assert find(docs, "ConfigMap", "aiplatform-config")["data"]["BOT_GENERATOR_URL"] == ""
    docs = rendered("prod-vllm")
    vllm = find(docs, "Deployment", "vllm")
    spec = pod_spec(vllm)
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    service = find(docs, "Service", "vllm")
    assert service["spec"]["selector"].items() <= vllm["spec"]["template"]["metadata"][
        "labels"].items()
    port = service["spec"]["ports"][0]
    config = find(docs, "ConfigMap", "aiplatform-config")["data"]
    assert config["BOT_GENERATOR_URL"] == f"http://vllm:{port['port']}/v1"
    served = container["args"][container["args"].index("--served-model-name") + 1]
    assert config["BOT_GENERATOR_MODEL"] == served
    # Only the online workers reach it, and they may.
    labels = vllm["spec"]["template"]["metadata"]["labels"]
    (rule,) = _rules(docs, labels, "Ingress")
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for peer in rule["from"]] == ["worker-online"]
    online = find(docs, "Deployment", "worker-online")["spec"]["template"]["metadata"]["labels"]
    assert any(_port_allowed(r, 8000) for r in _rules(docs, online, "Egress"))
    # Everything else is prod's.
    prod = {doc_key(d) for d in rendered("prod")}
    assert prod < {doc_key(d) for d in docs}
