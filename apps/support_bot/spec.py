"""What the customer-service bot tells the job pipeline (see ``jobs.registry``).

Intents are the tenant's own, so the app declares no fixed label set: the fine-tune learns
the labels found in its training rows.
"""

from __future__ import annotations

from apps.support_bot.models import UTTERANCE_MAX_CHARS
from apps.support_bot.params import (
    ClassifyBacklogParams,
    ContentGapParams,
    EmbedArticlesParams,
    IntentFineTuneParams,
)
from jobs.registry import AppSpec, Column, DatasetSchema, JobKind

APP = "support_bot"
# Utterances of this intent are out-of-scope examples: never answered, they tune and measure
# the version's out-of-scope score (``workers.runtime.scope``).
OUT_OF_SCOPE = "out_of_scope"
TEXT_MAX_CHARS = 20_000

UTTERANCES = DatasetSchema(
    purpose="utterances",
    description="Training utterances: text,intent (BANKING77's category column works too "
                "when renamed).",
    columns=(Column("text", max_length=UTTERANCE_MAX_CHARS),
             Column("intent", type="label", max_length=100)),
)
ARTICLES = DatasetSchema(
    purpose="articles",
    description="Knowledge-base articles: question,answer and optional tags (separated by ;).",
    columns=(Column("question", max_length=TEXT_MAX_CHARS),
             Column("answer", max_length=TEXT_MAX_CHARS),
             Column("tags", required=False, max_length=1000)),
)
TICKETS = DatasetSchema(
    purpose="tickets",
    description="Past tickets to classify into an intent report: a text column.",
    columns=(Column("text", max_length=TEXT_MAX_CHARS),),
)

SPEC = AppSpec(
    label=APP,
    name="Customer-service bot",
    labels=None,
    demo_seed="apps.support_bot.demo.seed",
    datasets={schema.purpose: schema for schema in (UTTERANCES, ARTICLES, TICKETS)},
    job_kinds={
        "fine_tune": JobKind(
            name="fine_tune",
            handler="workers.handlers.support_bot:fine_tune_intents",
            params=IntentFineTuneParams,
            dataset_purposes=("utterances",),
            dataset_required=False,
            description="Train the intent classifier on a text,intent dataset, or on the "
                        "tenant's utterances when no dataset is given.",
            progress_unit="epochs",
        ),
        "embed_articles": JobKind(
            name="embed_articles",
            handler="workers.handlers.support_bot:embed_articles",
            params=EmbedArticlesParams,
            description="Embed the knowledge-base articles that changed (scheduled after "
                        "every change).",
            progress_unit="articles",
        ),
        "classify_backlog": JobKind(
            name="classify_backlog",
            handler="workers.handlers.support_bot:classify_backlog",
            params=ClassifyBacklogParams,
            dataset_purposes=("tickets", "utterances"),
            description="Classify past tickets with the active intent model (the platform "
                        "default when the tenant has none) into an intent-distribution "
                        "report; labelled utterances also get accuracy, macro-F1, per-class "
                        "figures and the confusion matrix.",
        ),
        # --- The improvement loop (apps.support_bot.review) ---
        "content_gaps": JobKind(
            name="content_gaps",
            handler="workers.handlers.support_bot_gaps:content_gaps",
            params=ContentGapParams,
            description="Cluster the questions the bot could not answer by meaning and rank "
                        "the clusters by volume, with examples (the content-gap report).",
            progress_unit="questions",
        ),
    },
)
