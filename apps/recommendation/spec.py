"""What the recommendation app tells the job pipeline (see ``jobs.registry``).

Three job kinds, none of them reading a dataset (they read the catalogue and the events):
``embed_items`` (text embeddings of the items, for content-based serving and similar items),
``train`` (the hybrid model, evaluated against popularity on a holdout) and ``recommend``
(every user's top-K with reasons, into ``Recommendation``).
"""

from __future__ import annotations

from apps.recommendation.params import EmbedItemsParams, RecommendParams, TrainParams
from jobs.registry import AppSpec, Column, DatasetSchema, JobKind

APP = "recommendation"

# CSV uploads (``POST /api/v1/items/upload``, ``/api/v1/events/upload``) are read by the
# platform's dataset parser with these schemas (UTF-8, header, types), then validated and
# written like the JSON batches. They are not dataset purposes: no job reads a stored file.
ITEMS_CSV = DatasetSchema(
    purpose="items",
    columns=(Column("external_id", max_length=200), Column("title", max_length=500),
             Column("description", required=False, max_length=20_000),
             Column("categories", required=False, max_length=5_000),
             Column("available", required=False, max_length=5)),
)
EVENTS_CSV = DatasetSchema(
    purpose="events",
    columns=(Column("event_id", max_length=200), Column("user", max_length=200),
             Column("item", max_length=200), Column("kind", max_length=16),
             Column("value", type="float", required=False),
             Column("occurred_at", type="datetime", required=False),
             Column("recommendation_id", required=False, max_length=64)),
)

SPEC = AppSpec(
    label=APP,
    name="Recommendation",
    demo_seed="apps.recommendation.demo.seed",
    # Catalogue and events arrive through the app's own API and CSV upload, not datasets.
    datasets={},
    job_kinds={
        "embed_items": JobKind(
            name="embed_items",
            handler="workers.handlers.recommendation:embed_items",
            params=EmbedItemsParams,
            precondition="apps.recommendation.services.embedding_ready_check",
            description="Embed the items' text with the base encoder (pgvector).",
            progress_unit="items",
        ),
        "train": JobKind(
            name="train",
            handler="workers.handlers.recommendation:train",
            params=TrainParams,
            precondition="apps.recommendation.services.training_ready_check",
            description="Train the hybrid recommender and evaluate it against popularity.",
            progress_unit="steps",
        ),
        "recommend": JobKind(
            name="recommend",
            handler="workers.handlers.recommendation:recommend",
            params=RecommendParams,
            needs_model_version=True,
            description="Precompute every user's top-K recommendations with reasons.",
            progress_unit="users",
        ),
    },
)
