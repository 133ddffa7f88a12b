"""Seed a tenant's bot with BANKING77 (``seed_demo`` does it for the demo tenant, see
``apps.support_bot.demo``). Idempotent: a tenant that already has intents is left alone.

    python manage.py seed_bot_demo [--tenant demo]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.support_bot import demo
from tenancy.context import tenant_context, unscoped
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Seed a tenant's support bot with the BANKING77 intents and answer articles."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default="demo", help="tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        if not demo.train_path().exists():
            raise CommandError(f"BANKING77 not found at {demo.train_path()}")
        with unscoped():
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}")
        with tenant_context(tenant.pk):
            created = demo.seed()
        if created:
            self.stdout.write(f"{tenant.slug}: {created} intents with their utterances and "
                              "articles (embedding job queued).")
        else:
            self.stdout.write(f"{tenant.slug}: the bot already has intents; left alone.")
