"""Seed a tenant's bot with BANKING77 (``make run`` does it for the demo tenant): the 77
intents, ten training utterances each, and an answer article per intent (its question is a
real customer utterance). Articles are embedded by the job their creation schedules; the
intent model is the platform default (``train_default_model support_bot``) until the tenant
fine-tunes its own. Idempotent: a tenant that already has intents is left alone.

    python manage.py seed_bot_demo [--tenant demo]
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.support_bot import services
from apps.support_bot.models import Intent
from tenancy.context import tenant_context, unscoped
from tenancy.models import Tenant

ANSWERS = Path(__file__).resolve().parents[2] / "demo" / "banking77_answers.json"
UTTERANCES_PER_INTENT = 10
# Card fraud is for people, not for a bot.
HANDOFF_INTENTS = {"compromised_card"}


class Command(BaseCommand):
    help = "Seed a tenant's support bot with the BANKING77 intents and answer articles."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default="demo", help="tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        train = Path(settings.SHARED_DATASETS_DIR) / "banking77" / "train.csv"
        if not train.exists():
            raise CommandError(f"BANKING77 not found at {train}")
        with unscoped():
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}")
        answers: dict[str, str] = json.loads(ANSWERS.read_text(encoding="utf-8"))
        examples: dict[str, list[str]] = defaultdict(list)
        with train.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if len(examples[row["category"]]) < UTTERANCES_PER_INTENT:
                    examples[row["category"]].append(" ".join(row["text"].split()))

        with tenant_context(tenant.pk), transaction.atomic():
            if Intent.objects.exists():
                self.stdout.write(f"{tenant.slug}: the bot already has intents; left alone.")
                return
            for name in answers:
                services.intent_create(name=name, description=name.replace("_", " ").strip("?"),
                                       handoff=name in HANDOFF_INTENTS)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["text", "intent"])
            writer.writerows((text, name) for name in answers for text in examples[name])
            utterances = services.utterances_import_csv(data=buffer.getvalue().encode())
            for name, answer in answers.items():
                services.article_create(question=examples[name][0], answer=answer,
                                        tags=[name.strip("?")])
        self.stdout.write(f"{tenant.slug}: {len(answers)} intents, {utterances.created} "
                          f"utterances and {len(answers)} articles (embedding job queued).")
