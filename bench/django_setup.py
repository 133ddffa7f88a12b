"""Django for benchmarks: the embedded servers under ``.data/bench``, migrated, with a tenant."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup() -> None:
    for folder in (ROOT, ROOT / "platform"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    os.environ.setdefault("AIPLATFORM_DATA_DIR", str(ROOT / ".data" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def bench_tenant(slug: str = "bench"):  # noqa: ANN201
    from tenancy.models import Tenant
    from tenancy.services import tenant_create

    return Tenant.objects.filter(slug=slug).first() or tenant_create(slug=slug, name="Bench")
