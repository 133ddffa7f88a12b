"""What the finance sentiment app tells the job pipeline (see ``jobs.registry``)."""

from __future__ import annotations

from apps.finance_sentiment.params import ScoreDocumentsParams
from jobs.params import BatchInferenceParams, FineTuneParams
from jobs.registry import AppSpec, Column, DatasetSchema, JobKind

LABELS = ("negative", "neutral", "positive")
APP = "finance_sentiment"
# The default topic taxonomy: the 20 topics of the Twitter financial news topic dataset (a
# rule's ``topic`` names one of them; a future topic head fills ``Document.topic``).
TOPICS = (
    "Analyst Update", "Fed | Central Banks", "Company | Product News",
    "Treasuries | Corporate Debt", "Dividend", "Earnings", "Energy | Oil", "Financials",
    "Currencies", "General News | Opinion", "Gold | Metals | Materials", "IPO",
    "Legal | Regulation", "M&A | Investments", "Macro", "Markets", "Politics",
    "Personnel Change", "Stock Commentary", "Stock Movement",
)

SPEC = AppSpec(
    label=APP,
    name="Finance sentiment",
    labels=LABELS,
    demo_seed="apps.finance_sentiment.demo.seed",
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
            progress_unit="epochs",
        ),
        "batch_inference": JobKind(
            name="batch_inference",
            handler="workers.handlers.text_classification:batch_inference",
            params=BatchInferenceParams,
            dataset_purposes=("texts", "labelled"),
            needs_model_version=True,
            description="Score every row of a dataset with the active model (the platform "
                        "default when the tenant has none); a labelled dataset gets accuracy, "
                        "macro-F1, per-class figures and the confusion matrix.",
        ),
        # Documents (news, posts) in micro-batches: results go to SentimentScore, the
        # documents' current labels and the rollups. Submitted by ingestion (debounced) and
        # by POST /api/v1/finance/score.
        "score_documents": JobKind(
            name="score_documents",
            handler="workers.handlers.finance:score_documents",
            params=ScoreDocumentsParams,
            dataset_purposes=("texts",),
            dataset_required=False,
            needs_model_version=True,
            description="Score documents: the unscored ones, a published range, or a dataset.",
            progress_unit="documents",
        ),
    },
)
