"""``make run``: the whole platform on this machine.

Embedded PostgreSQL and Redis (started by settings when no URLs are configured), migrations,
the platform default models (shipped in `models/shipped`; trained once, quickly, only for an
application that has none installed or shipped), the demo tenant and its
data, then web, the Celery workers (jobs on ``default,gpu``; real-time inference on
``online``, in threads) and Celery beat as child processes. Ctrl-C stops the children, then
the embedded servers stop as this process exits.

It behaves like production unless ``DEBUG`` is asked for (``make dev`` or ``DEBUG=1``): the
web process is gunicorn (``config.gunicorn``) with static files from WhiteNoise's manifest
storage; with ``DEBUG`` on it is Django's development server, which reloads on changes. Either
way it is plain http on this machine, so the production security settings that assume TLS are
turned off for the children (``LOCAL_HTTP_SETTINGS``); a variable set in the environment wins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from redis.exceptions import RedisError

from config import embedded
from config.warmth import queue_warmth

# The online queue's worker (chat messages, real-time classification): one process whose
# tasks run in threads, so that concurrent messages meet in its micro-batcher and share one
# forward pass (workers/runtime/microbatch.py). The Kubernetes and compose workers and
# bench/bot_chat.py start it the same way.
ONLINE_WORKER_ARGS = ["-Q", "online", "--pool=threads", "--concurrency=16",
                      "--prefetch-multiplier=1"]

# http://127.0.0.1 has no TLS: secure-only cookies would never come back (no sign-in), an
# https redirect would lead nowhere, and HSTS would pin the browser to https for localhost.
LOCAL_HTTP_SETTINGS = {"SECURE_COOKIES": "0", "SECURE_SSL_REDIRECT": "0",
                       "SECURE_HSTS_SECONDS": "0"}


def web_command(*, debug: bool, host: str, port: int) -> list[str]:
    """The web process: gunicorn as in production, Django's development server under DEBUG."""
    if debug:
        return [sys.executable, str(embedded.REPO_ROOT / "manage.py"), "runserver",
                f"{host}:{port}"]
    return [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn",
            "--bind", f"{host}:{port}", "config.wsgi:application"]


def child_env(*, debug: bool, database_url: str, redis_url: str) -> dict[str, str]:
    """The children's environment: this run's data stores and mode, and local http. The source
    roots lead ``PYTHONPATH``: gunicorn and Celery import ``config`` as manage.py does."""
    roots = [str(embedded.REPO_ROOT / "platform"), str(embedded.REPO_ROOT)]
    inherited = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return {
        **LOCAL_HTTP_SETTINGS,
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "1" if debug else "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(roots + inherited)),
    }


class Command(BaseCommand):
    help = "Run web, worker and beat against the embedded PostgreSQL and Redis."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        if "train_default_model" in get_commands():  # the worker side is installed
            call_command("train_default_model", missing=True, quick=True)
        call_command("seed_demo")

        debug = bool(settings.DEBUG)
        env = child_env(debug=debug, database_url=_database_url(settings.DATABASES["default"]),
                        redis_url=settings.REDIS_URL)
        python = sys.executable
        commands = {
            "web": web_command(debug=debug, host=options["host"], port=options["port"]),
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu",
                       "--concurrency=2", "-n", "jobs@%h", "--loglevel=INFO"],
            "online-worker": [python, "-m", "celery", "-A", "config", "worker",
                              *ONLINE_WORKER_ARGS, "-n", "online@%h", "--loglevel=INFO"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                     "--schedule", str(embedded.data_dir() / "celerybeat-schedule")],
        }
        # Each process type's share of PostgreSQL's connections (config.settings: pooling).
        pool_sizes = {"web": "4", "worker": "2", "online-worker": "8", "beat": "1"}
        children = {
            name: subprocess.Popen(command, cwd=embedded.REPO_ROOT,  # noqa: S603
                                   env={"DB_POOL_MAX_SIZE": pool_sizes[name], **env},
                                   start_new_session=True)
            for name, command in commands.items()
        }
        url = f"http://{options['host']}:{options['port']}/"
        mode = "DEBUG, development server" if debug else "production mode, gunicorn"
        self.stdout.write(self.style.SUCCESS(
            f"Platform running at {url}  ({mode}; Ctrl-C stops it)"))
        self.stdout.write(f"Console: {url}console/   API docs: {url}api/v1/docs/")

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        warm = False
        try:
            while not stopping:
                if not warm and _online_warm():
                    warm = True
                    self.stdout.write(self.style.SUCCESS(
                        "Online worker warm: default models loaded for real-time requests."))
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
            if "REDIS_URL" not in os.environ:  # we started the embedded one
                embedded.stop_redis(embedded.data_dir() / "redis")
            self.stdout.write("Stopped.")


def _online_warm() -> bool:
    """As ``/readyz`` reports it; a Redis hiccup is not this loop's to handle."""
    try:
        return queue_warmth("online") == "warm"
    except RedisError:
        return False


def _database_url(database: dict[str, Any]) -> str:
    from urllib.parse import quote

    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    port = f":{database['PORT']}" if database.get("PORT") else ""
    host = quote(str(database["HOST"]), safe="")
    return f"postgresql://{database['USER']}{password}@{host}{port}/{database['NAME']}"
