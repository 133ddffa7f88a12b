"""The support bot part of the demo tenant (``make run``): BANKING77's 77 intents, ten training
utterances each, and an answer article per intent (its question is a real customer
utterance), linked to it. Articles are embedded by the job their creation schedules; the
intent model is the platform default (``train_default_model support_bot``) until the tenant
fine-tunes its own.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from apps.support_bot import services
from apps.support_bot.models import Intent
from config.csvexport import csv_writer

ANSWERS = Path(__file__).resolve().parent / "demo" / "banking77_answers.json"
UTTERANCES_PER_INTENT = 10
# Card fraud is for people, not for a bot.
HANDOFF_INTENTS = {"compromised_card"}


def train_path() -> Path:
    return Path(settings.DATASETS_DIR) / "banking77" / "train.csv"


def local_origins() -> list[str]:
    """The local platform's origins (``SITE_BASE_URL``, and localhost and 127.0.0.1 on its
    port): the demo's widget snippet works on the platform's own pages out of the box."""
    parts = urlsplit(settings.SITE_BASE_URL)
    port = f":{parts.port}" if parts.port else ""
    return sorted({f"{parts.scheme}://{parts.netloc}".lower(),
                   f"{parts.scheme}://localhost{port}", f"{parts.scheme}://127.0.0.1{port}"})


@transaction.atomic
def seed() -> int:
    """Seed the current tenant's bot once; returns the intents created (0 when it already has
    intents, or when BANKING77 is not on this machine). The widget's allowed origins include
    the local platform's every time (an older demo workspace gets them too)."""
    origins = services.bot_settings_get().widget_origins
    services.bot_settings_update(changes={"widget_origins": [*origins, *local_origins()]})
    if Intent.objects.exists() or not train_path().exists():
        return 0
    answers: dict[str, str] = json.loads(ANSWERS.read_text(encoding="utf-8"))
    examples: dict[str, list[str]] = defaultdict(list)
    with train_path().open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if len(examples[row["category"]]) < UTTERANCES_PER_INTENT:
                examples[row["category"]].append(" ".join(row["text"].split()))
    # Each intent answers with its own article (it has no template), whatever the retrieval
    # similarity of the message to the article's text.
    articles = {name: services.article_create(question=examples[name][0], answer=answer,
                                              tags=[name.strip("?")])
                for name, answer in answers.items()}
    for name in answers:
        services.intent_create(name=name, description=name.replace("_", " ").strip("?"),
                               handoff=name in HANDOFF_INTENTS, article=articles[name])
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["text", "intent"])
    writer.writerows((text, name) for name in answers for text in examples[name])
    services.utterances_import_csv(data=buffer.getvalue().encode())
    return len(answers)
