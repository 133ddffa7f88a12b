"""What the finance sentiment app tells the job pipeline (see ``jobs.registry``)."""

from __future__ import annotations

from jobs.params import BatchInferenceParams, FineTuneParams
from jobs.registry import AppSpec, Column, DatasetSchema, JobKind

LABELS = ("negative", "neutral", "positive")

SPEC = AppSpec(
    label="finance_sentiment",
    name="Finance sentiment",
    labels=LABELS,
    datasets={
        "labelled": DatasetSchema(
            purpose="labelled",
            description="Sentences with their sentiment, for fine-tuning: text,label.",
            columns=(Column("text", max_length=20_000), Column("label", type="label")),
            labels=LABELS,
            # The twitter_fin_sentiment convention: 0 bearish, 1 bullish, 2 neutral.
            label_aliases={"0": "negative", "1": "positive", "2": "neutral",
                           "bearish": "negative", "bullish": "positive"},
        ),
        "texts": DatasetSchema(
            purpose="texts",
            description="Texts to score: a text column (other columns are ignored).",
            columns=(Column("text", max_length=20_000),),
        ),
    },
    job_kinds={
        "fine_tune": JobKind(
            name="fine_tune",
            handler="workers.handlers.text_classification:fine_tune",
            params=FineTuneParams,
            dataset_purposes=("labelled",),
            description="Fine-tune the sentiment classifier on labelled sentences.",
        ),
        "batch_inference": JobKind(
            name="batch_inference",
            handler="workers.handlers.text_classification:batch_inference",
            params=BatchInferenceParams,
            dataset_purposes=("texts", "labelled"),
            needs_model_version=True,
            description="Score every row of a dataset with the active model.",
        ),
    },
)
