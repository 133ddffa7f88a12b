"""The finance sentiment monitor's tables: the watchlist, news feeds, documents and their
scores, rollups per ticker and time bucket, alert rules and the alerts they raise.

Every table is tenant-owned (row-level security in the migration) and every index and unique
constraint starts with ``tenant``, with two deliberate exceptions: the GIN index on
``Document.tickers`` (GIN cannot hold a bigint without the ``btree_gin`` extension, which the
embedded server does not ship; queries combine it with the tenant's b-tree indexes and RLS) and
the partial index of due feeds, a cross-tenant scan of a small set like the job sweeper's.

The same story arrives from many feeds and as retweets: a copy (``Document.duplicate_of``)
points at its story's first document, which alone counts in the rollups.

A document carries its *current* sentiment (label, score = p(positive) − p(negative)), copied
from its latest ``SentimentScore``; ``SentimentRollup`` holds, per ticker and hour/day bucket,
the sums of the current labels of the documents published in it. The scoring service keeps
both in step in one transaction per chunk (see ``services.document_scores_record``).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from jobs.models import JobResult
from tenancy.models import TenantOwnedModel

TICKER_MAX_LENGTH = 16
TOPIC_MAX_LENGTH = 64


class Label(models.TextChoices):
    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


class WatchlistEntry(TenantOwnedModel):
    ticker = models.CharField(max_length=TICKER_MAX_LENGTH, help_text="Upper-case symbol")
    company_name = models.CharField(max_length=200, blank=True)
    aliases = ArrayField(models.CharField(max_length=200), default=list, blank=True,
                         help_text="Other names that identify the company in text")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["ticker"]
        verbose_name_plural = "watchlist entries"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "ticker"], name="watchlist_tenant_ticker"),
        ]

    def __str__(self) -> str:
        return self.ticker


class Feed(TenantOwnedModel):
    """An RSS or Atom feed polled on a schedule; its entries become documents."""

    url = models.URLField(max_length=1000)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    poll_minutes = models.PositiveIntegerField(default=15)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    documents_created = models.PositiveIntegerField(default=0)
    # Validators of the last successful response, sent back for a conditional GET.
    etag = models.CharField(max_length=500, blank=True)
    modified = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "url"], name="feed_tenant_url"),
        ]
        indexes: ClassVar = [
            # The beat task's scan of due feeds across tenants (small, partial).
            models.Index(fields=["next_poll_at"], name="feed_due",
                         condition=Q(is_active=True)),
        ]

    def __str__(self) -> str:
        return self.name or self.url

    @property
    def source(self) -> str:
        return f"feed:{self.pk}"


MIN_SOURCE_WEIGHT = 0.1
MAX_SOURCE_WEIGHT = 10.0


class SourceWeight(TenantOwnedModel):
    """How much a source's stories weigh in the tenant's sentiment index (default 1). A story
    (a cluster of near-duplicates) weighs what its first document's source weighs."""

    source = models.CharField(max_length=64, help_text='As on documents: "api", "feed:<id>"...')
    weight = models.FloatField(help_text=f"{MIN_SOURCE_WEIGHT} to {MAX_SOURCE_WEIGHT}")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["source"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "source"], name="sourceweight_tenant_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.weight:g}"


class Document(TenantOwnedModel):
    source = models.CharField(max_length=64, help_text='"api", "csv", "feed:<id>", "dataset:<id>"')
    external_id = models.CharField(max_length=300)
    url = models.URLField(max_length=1000, blank=True)
    published_at = models.DateTimeField()
    title = models.TextField(blank=True)
    body = models.TextField(blank=True)
    language = models.CharField(max_length=16, blank=True)
    tickers = ArrayField(models.CharField(max_length=TICKER_MAX_LENGTH), default=list, blank=True)
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Current sentiment, denormalised from the latest score (empty label: not scored yet).
    label = models.CharField(max_length=16, choices=Label.choices, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="p(positive) − p(negative)")
    scored_at = models.DateTimeField(null=True, blank=True)
    scored_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+",
                                       help_text="Empty: the platform default model")
    # Near-duplicates (``dedup.py``): a copy points at its story's first document, the only
    # one of the story that counts in the rollups (and so in the index and the alerts).
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="copies",
                                     help_text="Empty: the first document of its story")
    similar_count = models.PositiveIntegerField(
        default=0, help_text="On a story's first document: how many copies it has")
    minhash = ArrayField(models.IntegerField(), default=list, blank=True)
    lsh_keys = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # Topic, beside the sentiment: empty until a topic head scores it (``spec.TOPICS``).
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH, null=True, blank=True)
    topic_probability = models.FloatField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-published_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "source", "external_id"],
                                    name="document_tenant_source_external"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "published_at"], name="document_tenant_published"),
            GinIndex(fields=["tickers"], name="document_tickers_gin"),
            # What the scoring job reads next: small, because scored rows leave it.
            models.Index(fields=["tenant", "id"], name="document_unscored",
                         condition=Q(scored_at__isnull=True)),
            models.Index(fields=["tenant", "duplicate_of"], name="document_tenant_duplicate",
                         condition=Q(duplicate_of__isnull=False)),
            # The headline stream: the latest scored stories (polled by the watchlist page).
            models.Index(fields=["tenant", "-scored_at"], name="document_tenant_scored_story",
                         condition=Q(duplicate_of__isnull=True, scored_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.title[:80] or self.external_id

    @property
    def text(self) -> str:
        return "\n".join(part for part in (self.title, self.body) if part)


class DocumentBand(TenantOwnedModel):
    """One LSH band key of a story's first document (``Document.lsh_keys``, one row per key;
    copies match the first document, so they add none): the index of the near-duplicate
    lookup, ``key = ANY(batch keys)`` on a b-tree. A GIN index on the array column was
    measured first: the planner judged ``lsh_keys && <8,000 keys>`` unselective and scanned
    (0.75-1.9 s per batch of 500 against milliseconds here)."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    key = models.BigIntegerField()
    published_at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["tenant", "key"], name="documentband_tenant_key"),
            models.Index(fields=["tenant", "document"], name="documentband_tenant_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}: {self.key}"


class SentimentScore(JobResult):
    """One scoring of one document by one job: the history behind a document's current label.

    Keyed by (job, document), the natural key of a result row: a retried chunk writes nothing
    twice.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="scores")
    model_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    label = models.CharField(max_length=16, choices=Label.choices)
    probabilities = models.JSONField(default=dict)
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "job", "document"],
                                    name="score_tenant_job_document"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "document"], name="score_tenant_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}: {self.label} ({self.score:+.3f})"


class Granularity(models.TextChoices):
    HOUR = "hour", _("Hour")
    DAY = "day", _("Day")


class SentimentRollup(TenantOwnedModel):
    """Label counts and the score sum of the documents published in one bucket (UTC) that
    mention ``ticker``, by their current labels. Maintained incrementally, never recomputed."""

    ticker = models.CharField(max_length=TICKER_MAX_LENGTH)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    positive = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    # The index with the tenant's source weights: Σ weight and Σ weight × (+1 positive,
    # −1 negative) of the stories counted above.
    weight_sum = models.FloatField(default=0.0)
    weighted_net = models.FloatField(default=0.0)

    class Meta:
        ordering: ClassVar = ["ticker", "granularity", "bucket_start"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "ticker", "granularity", "bucket_start"],
                                    name="rollup_tenant_ticker_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker} {self.granularity} {self.bucket_start:%Y-%m-%d %H:%M}"

    @property
    def total(self) -> int:
        return self.positive + self.neutral + self.negative


class TopicRollup(TenantOwnedModel):
    """:class:`SentimentRollup` split by the documents' topic: the same sums, per ticker,
    topic and bucket, over the counted stories (near-duplicate copies excluded) that carry a
    topic. Moved by the same statement as the rollups (``scoring._rollups_shift``), with the
    topic a document has when its label moves."""

    ticker = models.CharField(max_length=TICKER_MAX_LENGTH)
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    positive = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    weight_sum = models.FloatField(default=0.0)
    weighted_net = models.FloatField(default=0.0)

    class Meta:
        ordering: ClassVar = ["ticker", "topic", "granularity", "bucket_start"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "ticker", "topic", "granularity", "bucket_start"],
                name="topicrollup_tenant_ticker_topic_bucket"),
        ]
        indexes: ClassVar = [
            # The topics overview: every ticker's topics over a range of hours.
            models.Index(fields=["tenant", "granularity", "bucket_start"],
                         name="topicrollup_tenant_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker}/{self.topic} {self.granularity} {self.bucket_start:%Y-%m-%d %H:%M}"

    @property
    def total(self) -> int:
        return self.positive + self.neutral + self.negative


class AlertRule(TenantOwnedModel):
    class Kind(models.TextChoices):
        NEGATIVE_SHARE = "negative_share", _("Negative share above a threshold")
        ZSCORE = "zscore", _("Negative share z-score against the trailing baseline")
        BUZZ = "buzz", _("News volume against the trailing baseline")

    name = models.CharField(max_length=200)
    ticker = models.CharField(max_length=TICKER_MAX_LENGTH, null=True, blank=True,
                              help_text="Empty: every ticker on the watchlist")
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH, blank=True, default="",
                             help_text="Empty: documents of every topic")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.FloatField(
        null=True, blank=True,
        help_text="negative_share: share of negative documents, 0..1; buzz: the window's "
                  "stories over the baseline's mean")
    k = models.FloatField(null=True, blank=True, help_text="zscore: standard deviations")
    window_hours = models.PositiveIntegerField(default=24)
    baseline_days = models.PositiveIntegerField(default=14)
    min_volume = models.PositiveIntegerField(default=10)
    notify_email = ArrayField(models.EmailField(), default=list, blank=True)
    notify_webhook = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When an evaluation last checked this rule (the alerts page says whether rules ran).
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["name", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "is_active"], name="alertrule_tenant_active"),
        ]

    def __str__(self) -> str:
        return self.name


class Alert(TenantOwnedModel):
    """A rule firing for one ticker in one window: at most one per (rule, ticker, window)."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("alert status", "Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    ticker = models.CharField(max_length=TICKER_MAX_LENGTH)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    value = models.FloatField(help_text="negative_share: the share; zscore: the z-score")
    volume = models.PositiveIntegerField()
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")
    acknowledged_by_name = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by_name = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "rule", "ticker", "window_start"],
                                    name="alert_one_per_rule_window"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "status", "-created_at"], name="alert_tenant_status"),
            models.Index(fields=["tenant", "ticker", "-window_start"], name="alert_tenant_ticker"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker}: {self.message}"


class AlertChannel(TenantOwnedModel):
    """Where the tenant's alerts are delivered besides the rules' own e-mail addresses: an
    e-mail list, a signed webhook, or a Slack, Feishu or DingTalk incoming webhook (each in
    its own message format, ``services.delivery``). Every new alert goes to every active
    channel, asynchronously (``finance.deliver_alert``); the last attempt's outcome is kept
    here for the channels page."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Signed webhook")
        SLACK = "slack", _("Slack")
        FEISHU = "feishu", _("Feishu")
        DINGTALK = "dingtalk", _("DingTalk")

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.URLField(max_length=1000, blank=True,
                          help_text="Every kind but e-mail: the (incoming) webhook URL")
    emails = ArrayField(models.EmailField(), default=list, blank=True,
                        help_text="E-mail: the addresses")
    # webhook: HMAC-SHA256 key of the Webhook-Signature header; Feishu: the bot's signing
    # secret (timestamp and sign in the body); DingTalk: the robot's "SEC..." secret
    # (timestamp and sign in the query). Empty: unsigned. Never shown back.
    secret = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    last_status = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "is_active"], name="alertchannel_tenant_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def target(self) -> str:
        return ", ".join(self.emails) if self.kind == self.Kind.EMAIL else self.url
