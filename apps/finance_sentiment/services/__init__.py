"""Writes of the finance sentiment monitor, one module per reason to change:

- ``watchlist``: the tickers followed, with their company names and aliases;
- ``documents``: validation and all-or-nothing ingestion (JSON, CSV, feeds' entries,
  datasets), the row-problem type ``Problem``, deletion;
- ``feeds``: feed registration and polling state (the HTTP and parsing side is the separate,
  database-free ``apps.finance_sentiment.feeds``);
- ``dedup``: near-duplicate clustering at ingest (fingerprints, the band-key lookup, copies
  pointing at their story's first document; the MinHash itself is the database-free
  ``apps.finance_sentiment.dedup``);
- ``scoring``: scoring jobs (debounced scheduling, requests, chunk claims) and the scores,
  current labels and incrementally maintained rollups they write;
- ``alerts``: alert rules, their evaluation over the hourly rollups, notification and the
  alerts' life cycle;
- ``channels``: alert channels (e-mail lists, signed webhooks, Slack, Feishu, DingTalk);
- ``delivery``: an alert's message in each channel's format, its signatures, the asynchronous
  delivery with retries and the "send test" button;
- ``weights``: source weights and the weighted sums of the rollups they move;
- ``errors``: ``FinanceError``, the one domain error, mapped to HTTP by the API layer alone.

Reads (lists, trends, the overview, the ticker matcher, scoring candidates, rollup window
counts) are in ``apps.finance_sentiment.selectors``. Callers import this package
(``services.documents_ingest``); every public name of the submodules is re-exported here.
The submodules depend on each other in one direction only: ``feeds`` → ``documents`` →
``dedup`` → ``scoring`` → ``errors`` (``watchlist`` and ``channels`` use ``errors`` alone;
``alerts`` → ``delivery``; ``dry_run`` → ``alerts``).
"""

from apps.finance_sentiment.services.alerts import (
    MIN_BASELINE_STD,
    MIN_BASELINE_WINDOWS,
    RULE_FIELDS,
    Firing,
    alert_acknowledge,
    alert_resolve,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    alert_rules_evaluate,
    alerts_evaluate_all,
    rule_firings,
    rule_window_firings,
    window_start_for,
)
from apps.finance_sentiment.services.channels import (
    CHANNEL_FIELDS,
    alert_channel_create,
    alert_channel_delete,
    alert_channel_update,
)
from apps.finance_sentiment.services.delivery import (
    DELIVERY_ATTEMPTS,
    AlertMessage,
    DeliveryOutcome,
    alert_channel_deliver,
    alert_channel_tenant,
    alert_channel_test,
    alert_channels_notify,
    alert_message,
    alert_payload,
    channel_send,
)
from apps.finance_sentiment.services.documents import (
    CSV_COLUMNS,
    DOCUMENT_FIELDS,
    FUTURE_TOLERANCE,
    INSERT_BATCH,
    MAX_BODY_CHARS,
    MAX_CSV_DOCUMENTS,
    MAX_DOCUMENTS_PER_REQUEST,
    MAX_TICKERS_PER_DOCUMENT,
    MAX_TITLE_CHARS,
    DocumentRow,
    DocumentsInvalid,
    IngestedDocument,
    IngestResult,
    Problem,
    document_delete,
    documents_from_dataset,
    documents_ingest,
    documents_ingest_csv,
    documents_parse_csv,
    documents_validate,
    parse_published_at,
)
from apps.finance_sentiment.services.dry_run import DRY_RUN_DAYS, DryRun, alert_rule_dry_run
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.services.feeds import (
    FeedPollResult,
    feed_create,
    feed_delete,
    feed_poll,
    feed_poll_now,
    feed_update,
    feeds_due_claim,
)
from apps.finance_sentiment.services.scoring import (
    SCORE_COLUMNS,
    SCORE_KIND,
    SCORING_TEXT_CHARS,
    ScoreInput,
    ScoringSubmission,
    document_scores_record,
    document_topics_record,
    scoring_batch_claim,
    scoring_schedule,
    scoring_submit,
)
from apps.finance_sentiment.services.watchlist import (
    watchlist_entry_create,
    watchlist_entry_delete,
    watchlist_entry_update,
)
from apps.finance_sentiment.services.weights import (
    source_weight_delete,
    source_weight_set,
    source_weight_update,
)

__all__ = [
    # errors
    "FinanceError",
    # watchlist
    "watchlist_entry_create",
    "watchlist_entry_delete",
    "watchlist_entry_update",
    # documents
    "CSV_COLUMNS",
    "DOCUMENT_FIELDS",
    "FUTURE_TOLERANCE",
    "INSERT_BATCH",
    "MAX_BODY_CHARS",
    "MAX_CSV_DOCUMENTS",
    "MAX_DOCUMENTS_PER_REQUEST",
    "MAX_TICKERS_PER_DOCUMENT",
    "MAX_TITLE_CHARS",
    "DocumentRow",
    "DocumentsInvalid",
    "IngestResult",
    "IngestedDocument",
    "Problem",
    "document_delete",
    "documents_from_dataset",
    "documents_ingest",
    "documents_ingest_csv",
    "documents_parse_csv",
    "documents_validate",
    "parse_published_at",
    # feeds
    "FeedPollResult",
    "feed_create",
    "feed_delete",
    "feed_poll",
    "feed_poll_now",
    "feed_update",
    "feeds_due_claim",
    # scoring
    "SCORE_COLUMNS",
    "SCORE_KIND",
    "SCORING_TEXT_CHARS",
    "ScoreInput",
    "ScoringSubmission",
    "document_scores_record",
    "document_topics_record",
    "scoring_batch_claim",
    "scoring_schedule",
    "scoring_submit",
    # source weights
    "source_weight_delete",
    "source_weight_set",
    "source_weight_update",
    # alerts
    "MIN_BASELINE_STD",
    "MIN_BASELINE_WINDOWS",
    "RULE_FIELDS",
    "Firing",
    "alert_acknowledge",
    "alert_payload",
    "alert_resolve",
    "alert_rule_create",
    "alert_rule_delete",
    "alert_rule_update",
    "alert_rules_evaluate",
    "alerts_evaluate_all",
    "rule_firings",
    "rule_window_firings",
    "DRY_RUN_DAYS",
    "DryRun",
    "alert_rule_dry_run",
    "window_start_for",
    # alert channels and delivery
    "CHANNEL_FIELDS",
    "DELIVERY_ATTEMPTS",
    "AlertMessage",
    "DeliveryOutcome",
    "alert_channel_create",
    "alert_channel_delete",
    "alert_channel_deliver",
    "alert_channel_tenant",
    "alert_channel_test",
    "alert_channel_update",
    "alert_channels_notify",
    "alert_message",
    "channel_send",
]
