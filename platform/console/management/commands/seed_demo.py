"""Create (once) the demo tenant, its owner and an API key, and each application's demo data;
print the credentials.

Idempotent: a second run finds the same tenant and user and reuses the API key whose raw
value was kept in the local data folder (it is shown once and stored hashed, so the local
run keeps its own copy; production never seeds).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User
from accounts.services import ApiKeyInvalid, api_key_authenticate, api_key_create
from billing.services import subscription_change_plan
from config import embedded
from jobs.registry import all_apps
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tenancy.services import tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (local demo only)
STAFF_EMAIL = "staff@example.com"


class Command(BaseCommand):
    help = "Create the demo tenant, owner, staff user and API key (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        credentials_file = embedded.data_dir() / "demo-credentials.json"
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, first_name="Dana",
                                                last_name="Demo", email_verified_at=timezone.now())
            if not User.objects.filter(email=STAFF_EMAIL).exists():
                User.objects.create_superuser(STAFF_EMAIL, DEMO_PASSWORD)
            tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
            if tenant is None:
                tenant = tenant_create(slug=DEMO_SLUG, name="Demo Capital", owner_id=user.pk)
                with tenant_context(tenant.pk):
                    # Pro: the demo's fine-tunes fit its allowances (Free has one hour).
                    subscription_change_plan(plan_code="pro")

        raw_key = None
        if credentials_file.exists():
            raw_key = json.loads(credentials_file.read_text()).get("api_key")
            try:
                api_key_authenticate(raw_key=raw_key or "")
            except ApiKeyInvalid:
                raw_key = None
        if raw_key is None:
            with tenant_context(tenant.pk):
                raw_key = api_key_create(name="Demo key", scopes=["read", "write", "admin"],
                                         created_by_id=user.pk).raw_key
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            credentials_file.write_text(json.dumps({"api_key": raw_key}))
            credentials_file.chmod(0o600)

        for app in all_apps():
            if app.demo_seed:
                with tenant_context(tenant.pk):
                    created = import_string(app.demo_seed)()
                if created:
                    self.stdout.write(f"{app.name}: seeded {created} demo objects")

        self.stdout.write(f"Demo tenant: {tenant.name} ({tenant.slug})")
        self.stdout.write(f"Sign in: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"Staff console: {STAFF_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"API key: {raw_key}")
