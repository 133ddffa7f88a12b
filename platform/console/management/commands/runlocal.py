"""``make run``: the whole platform on this machine.

Embedded PostgreSQL and Redis (started by settings when no URLs are configured), migrations,
the demo tenant, then web + Celery worker + Celery beat as child processes. Ctrl-C stops the
children, then the embedded servers stop as this process exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from config import embedded

# Trained on first run when missing: the bot's intent model (BANKING77, a linear head on the
# frozen base: a few minutes on a CPU), so that the demo's try-it chat answers at once.
DEFAULT_MODELS_TRAINED_ON_FIRST_RUN = ("support_bot",)


class Command(BaseCommand):
    help = "Run web, worker and beat against the embedded PostgreSQL and Redis."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("seed_demo")
        self._seed_applications()

        database = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(database),
            "REDIS_URL": settings.REDIS_URL,
            "DEBUG": os.environ.get("DEBUG", "1"),
            "PYTHONUNBUFFERED": "1",
        }
        python = sys.executable
        manage = str(embedded.REPO_ROOT / "manage.py")
        commands = {
            "web": [python, manage, "runserver", f"{options['host']}:{options['port']}"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-Q",
                       "default,gpu,online", "--concurrency=2", "--loglevel=INFO"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                     "--schedule", str(embedded.data_dir() / "celerybeat-schedule")],
        }
        children = {
            name: subprocess.Popen(command, env=env, cwd=embedded.REPO_ROOT,  # noqa: S603
                                   start_new_session=True)
            for name, command in commands.items()
        }
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"Platform running at {url}  (Ctrl-C stops it)"))
        self.stdout.write(f"Console: {url}console/   API docs: {url}api/v1/docs/")

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
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


    def _seed_applications(self) -> None:
        """The applications' demo data, and the platform default models they need, trained
        once (a worker-side command: only where torch is installed)."""
        from django.apps import apps

        if apps.is_installed("apps.support_bot"):
            call_command("seed_bot_demo")
        if not apps.is_installed("workers"):
            return
        for app in DEFAULT_MODELS_TRAINED_ON_FIRST_RUN:
            if not (settings.DEFAULT_MODELS_DIR / app / "manifest.json").exists():
                self.stdout.write(f"Training the {app} default model once (a few minutes)…")
                call_command("train_default_model", app)


def _database_url(database: dict[str, Any]) -> str:
    from urllib.parse import quote

    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    port = f":{database['PORT']}" if database.get("PORT") else ""
    host = quote(str(database["HOST"]), safe="")
    return f"postgresql://{database['USER']}{password}@{host}{port}/{database['NAME']}"
