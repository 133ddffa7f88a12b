"""The customer-service bot's tables: per-tenant settings (thresholds, widget key), intents
with their answer templates (or linked articles), training utterances, knowledge-base
articles with their embeddings, conversations, messages and feedback.

Every table is tenant-owned (row-level security in the migration) and every index and unique
constraint starts with ``tenant``, with two deliberate exceptions: ``BotSettings.widget_key``
is globally unique (the public widget key is looked up before the tenant is known, like an API
key's prefix) and the HNSW index on ``Article.embedding`` (an HNSW index holds one vector
column; the nearest-neighbour query filters by tenant, and row-level security filters again).
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from pgvector.django import HnswIndex, VectorField

from tenancy.models import TenantOwnedModel

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2
MESSAGE_MAX_CHARS = 4_000
# Utterances are short, and their text is in a unique b-tree index (at most ~2,700 bytes).
UTTERANCE_MAX_CHARS = 500


def new_widget_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


# The web widget's languages: its own texts (button, placeholder...) come in these; empty
# follows the visitor's browser. Language names are written in their own language.
WIDGET_LANGUAGES = [("", _("The visitor's browser")), ("en", "English"), ("zh-hans", "简体中文")]


class BotSettings(TenantOwnedModel):
    """One row per tenant: how confident the bot must be, and who may embed its widget."""

    intent_threshold = models.FloatField(
        default=0.6, help_text="Minimum intent confidence to answer with the intent's template")
    article_threshold = models.FloatField(
        default=0.55, help_text="Minimum cosine similarity to answer with an article")
    followup_max_words = models.PositiveIntegerField(
        default=4, help_text="A low-confidence message this short reuses the previous intent")
    fallback_message = models.TextField(
        default="I'm not sure I can help with that. Let me hand you over to a colleague.")
    # Out-of-scope handling (``apps.support_bot.scope``): each model version recommends an
    # in-scope score threshold for this target; applying it sets ``scope_threshold``.
    target_false_handoff = models.FloatField(
        default=0.03, help_text="Share of in-scope questions the recommended threshold may "
                                "hand off (on validation)")
    scope_threshold = models.FloatField(
        null=True, blank=True, help_text="Applied minimum in-scope score (similarity to the "
                                         "training utterances); empty: not applied")
    scope_threshold_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The model version whose recommendation was applied")
    ambiguity_margin = models.FloatField(
        default=0.1, help_text="When the two likeliest intents are closer than this, the "
                               "customer chooses between them (0: never ask)")
    widget_key = models.CharField(max_length=64, unique=True, default=new_widget_key,
                                  help_text="Public: it can only reach the chat endpoints")
    widget_origins = ArrayField(models.CharField(max_length=300), default=list, blank=True,
                                help_text="Origins allowed to use the widget, e.g. "
                                          "https://shop.example.com")
    widget_language = models.CharField(max_length=8, blank=True, default="",
                                       choices=WIDGET_LANGUAGES)
    # How the widget looks (``widget.WidgetConfigView`` gives them to the script).
    widget_title = models.CharField(max_length=80, blank=True, default="",
                                    help_text="The widget's heading; empty: the tenant's name")
    widget_greeting = models.CharField(max_length=300, blank=True, default="",
                                       help_text="The bot's first words when the chat opens")
    widget_colour = models.CharField(max_length=7, default="#2456d6",
                                     help_text="The widget's colour, #rrggbb")
    widget_avatar_url = models.URLField(max_length=500, blank=True, default="",
                                        help_text="An https image shown beside the heading")
    # The generative composer (``apps.support_bot.generative``): an OpenAI-compatible chat
    # endpoint; empty URL and model: the deployment's default (``BOT_GENERATOR_*``).
    generative_enabled = models.BooleanField(
        default=False, help_text="Compose replies with a language model, checked against the "
                                 "articles (else the extractive answer)")
    generative_url = models.URLField(max_length=300, blank=True, default="",
                                     help_text="OpenAI-compatible base URL, e.g. "
                                               "http://vllm:8000/v1; empty: the deployment's")
    generative_model = models.CharField(max_length=200, blank=True, default="")
    # Sealed with a key derived from SECRET_KEY (``apps.support_bot.sealed``); never shown back.
    generative_api_key = models.TextField(blank=True, default="", editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "bot settings"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant"], name="botsettings_tenant_uniq"),
        ]

    def __str__(self) -> str:
        return f"Bot settings of tenant {self.tenant_id}"


class Intent(TenantOwnedModel):
    name = models.CharField(max_length=100, help_text="The label the intent model predicts")
    description = models.TextField(blank=True)
    answer_template = models.TextField(
        blank=True, help_text="Reply when this intent is recognised; variables such as "
                              "{name} come from the conversation's context")
    handoff = models.BooleanField(default=False,
                                  help_text="Always hand this intent over to a person")
    article = models.ForeignKey(
        "Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="intents",
        help_text="Answered with when the intent has no template of its own")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "name"], name="intent_tenant_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


class Utterance(TenantOwnedModel):
    """A training example of an intent."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Manual")
        CSV = "csv", _("CSV import")
        AGENT = "agent", _("Agent reply")

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="utterances")
    text = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["intent__name", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "intent", "text"],
                                    name="utterance_tenant_intent_text_uniq"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Article(TenantOwnedModel):
    """A knowledge-base answer. ``embedding`` (of question and answer) is written by the
    ``embed_articles`` job; ``embedded_text_hash`` tells whether it is still current."""

    question = models.TextField()
    answer = models.TextField()
    url = models.URLField(max_length=500, blank=True, default="",
                          help_text="Where customers can read the article; cited with it")
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True,
                            editable=False)
    embedded_text_hash = models.CharField(max_length=64, blank=True, editable=False)
    embedded_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["question", "id"]
        indexes: ClassVar = [
            HnswIndex(name="article_embedding_hnsw", fields=["embedding"], m=16,
                      ef_construction=64, opclasses=["vector_cosine_ops"]),
            models.Index(fields=["tenant", "updated_at"], name="article_tenant_updated"),
        ]

    def __str__(self) -> str:
        return self.question[:80]

    @property
    def embedding_text(self) -> str:
        return f"{self.question}\n{self.answer}"

    @property
    def is_embedded(self) -> bool:
        from apps.support_bot.text import text_hash

        return self.embedding is not None and self.embedded_text_hash == text_hash(
            self.embedding_text)


class ArticleSentence(TenantOwnedModel):
    """One sentence of an article's answer with its embedding, written by the same
    ``embed_articles`` job as the article's vector: composing a reply then needs only the
    question's vector and dot products, never a forward pass per message."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="sentences")
    position = models.PositiveIntegerField()
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)

    class Meta:
        ordering: ClassVar = ["article", "position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "article", "position"],
                                    name="articlesentence_tenant_article_pos"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Conversation(TenantOwnedModel):
    class Channel(models.TextChoices):
        API = "api", "API"
        WIDGET = "widget", _("Web widget")
        DASHBOARD = "dashboard", _("Try-it chat")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("conversation status", "Open")
        HANDED_OFF = "handed_off", _("Handed off")
        RESOLVED = "resolved", _("Resolved")

    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.API)
    external_user_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    context = models.JSONField(default=dict, blank=True,
                               help_text="Variables for answer templates, e.g. {\"name\": \"Ann\"}")
    last_intent = models.CharField(max_length=100, blank=True)
    # The widget's caller proves it owns the conversation with this (shown once to it).
    access_token = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # Why the latest handoff happened (``services._handoff``): ``customer_request``,
    # ``low_confidence``, ``out_of_scope``, ``intent:<name>`` or ``requested`` (an agent or
    # the API); read by the resolution analytics.
    handoff_reason = models.CharField(max_length=120, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # --- Handoff ownership (apps.support_bot.handoff): while an agent owns the conversation
    # the bot stays silent; releasing it gives it back to the bot.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+",
                                 help_text="The agent who owns the conversation")
    owned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-updated_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "status", "-updated_at"],
                         name="conversation_tenant_status"),
            models.Index(fields=["tenant", "created_at"], name="conversation_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.status})"


class Message(TenantOwnedModel):
    class Role(models.TextChoices):
        USER = "user", _("Customer")
        BOT = "bot", _("Bot")
        AGENT = "agent", _("Agent")

    class ReplyKind(models.TextChoices):
        TEMPLATE = "template", _("Intent template")
        ARTICLE = "article", _("Knowledge-base article")
        FALLBACK = "fallback", _("Fallback and handoff")
        HANDOFF = "handoff", _("Intent handed off")
        CHOICE = "choice", _("Choice of two intents")
        COMPOSED = "composed", _("Composed from articles")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="messages")
    role = models.CharField(max_length=8, choices=Role.choices)
    text = models.TextField()
    # On bot replies (and copied onto the customer message they answer): what the bot saw.
    intent = models.CharField(max_length=100, blank=True, help_text="Predicted intent")
    confidence = models.FloatField(null=True, blank=True)
    used_previous_intent = models.BooleanField(default=False)
    reply_kind = models.CharField(max_length=16, choices=ReplyKind.choices, blank=True)
    retrieved = models.JSONField(default=list, blank=True,
                                 help_text='Top articles: [{"id": 1, "similarity": 0.8}, ...]')
    scope_score = models.FloatField(null=True, blank=True,
                                    help_text="Similarity to the nearest training utterances")
    choices = models.JSONField(default=list, blank=True,
                               help_text="The intents offered to choose from (choice replies)")
    article = models.ForeignKey(Article, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", help_text="The article answered with")
    citations = models.JSONField(
        default=list, blank=True,
        help_text='Composed replies: the articles quoted, [{"id": 1, "title": "...", "url": ""}]')
    composer = models.CharField(max_length=16, blank=True,
                                help_text="Composed replies: extractive or generative")
    latency_ms = models.PositiveIntegerField(null=True, blank=True,
                                             help_text="From receiving the message to the reply")
    # The version that answered, named as jobs, classify and the API name it: by id, with its
    # number beside it; both null when the platform default answered (or no model ran).
    model_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+",
                                      help_text="The version that answered; null: the platform "
                                                "default")
    model_version_number = models.PositiveIntegerField(null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "conversation", "created_at"],
                         name="message_tenant_conversation"),
            models.Index(fields=["tenant", "role", "created_at"], name="message_tenant_role"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class Feedback(TenantOwnedModel):
    class Rating(models.TextChoices):
        UP = "up", _("Thumbs up")
        DOWN = "down", _("Thumbs down")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="feedback")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="feedback", help_text="The bot reply rated")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "feedback"
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            # One rating per reply (rating again replaces it); conversation-level ones are free.
            models.UniqueConstraint(fields=["tenant", "message"], name="feedback_tenant_message",
                                    condition=models.Q(message__isnull=False)),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "created_at"], name="feedback_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.rating} on conversation {self.conversation_id}"


# --- The agents' side of a handoff (apps.support_bot.handoff) ---------------------------------


class ConversationNote(TenantOwnedModel):
    """An agent's internal note on a conversation: a table of its own, so that nothing that
    reads messages (the widget, the chat API) can ever show it to the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="notes")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "conversation", "created_at"],
                         name="note_tenant_conversation"),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class ConversationRead(TenantOwnedModel):
    """How far an agent has read a conversation: the customer's messages after
    ``last_read_message_id`` are unread for them."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    last_read_message_id = models.BigIntegerField(default=0)
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "conversation", "user"],
                                    name="conversationread_tenant_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.last_read_message_id}"


CANNED_TITLE_MAX_CHARS = 100


class CannedReply(TenantOwnedModel):
    """A saved answer agents insert into the reply box."""

    title = models.CharField(max_length=CANNED_TITLE_MAX_CHARS)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["title", "id"]
        verbose_name_plural = "canned replies"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "title"], name="cannedreply_tenant_title"),
        ]

    def __str__(self) -> str:
        return self.title


# --- The improvement loop (apps.support_bot.review) -------------------------------------------


class ReviewItem(TenantOwnedModel):
    """A customer message of the "needs review" queue that someone dealt with: labelled with
    an intent (a training utterance), turned into an article with the agent's reply, or
    dismissed. The queue is the messages without one (``review.review_queue``)."""

    class State(models.TextChoices):
        LABELLED = "labelled", _("Labelled")
        ARTICLE = "article", _("Turned into an article")
        DISMISSED = "dismissed", _("Dismissed")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reviews")
    state = models.CharField(max_length=16, choices=State.choices)
    utterance = models.ForeignKey(Utterance, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    article = models.ForeignKey(Article, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-reviewed_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "message"], name="reviewitem_tenant_message"),
        ]

    def __str__(self) -> str:
        return f"{self.state}: message {self.message_id}"


class ContentGap(TenantOwnedModel):
    """One cluster of unanswered questions found by a ``content_gaps`` job: how many messages
    asked it, its most central question as a label, and up to five examples."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField(help_text="1: the most asked")
    size = models.PositiveIntegerField(help_text="Messages in the cluster")
    label = models.TextField(help_text="The cluster's most central question")
    examples = models.JSONField(default=list, blank=True)
    message_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)

    class Meta:
        ordering: ClassVar = ["job", "rank"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "job", "rank"],
                                    name="contentgap_tenant_job_rank"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} ({self.size}): {self.label[:60]}"
