"""Writes of the customer-service bot: settings, intents and utterances, knowledge-base
articles (embedded by a job after every change), conversations, the answering decision,
human agents' replies and feedback.

Answering a message (``chat``) is three steps, so that the customer's message is kept even
when no worker answers: the message is stored and committed (``message_receive``); a worker
on the ``online`` queue classifies its intent and retrieves the nearest articles
(``support.analyse``); the reply is decided and stored here (``message_answer``), with the
latency measured from the message's arrival.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.support_bot import compose
from apps.support_bot.generative import (
    GeneratorSettingsError,
    generative_changes,
    reply_generate,
)
from apps.support_bot.models import (
    MESSAGE_MAX_CHARS,
    UTTERANCE_MAX_CHARS,
    WIDGET_LANGUAGES,
    Article,
    ArticleSentence,
    BotSettings,
    Conversation,
    Feedback,
    Intent,
    Message,
    Utterance,
    new_widget_key,
)
from apps.support_bot.selectors import citations_of, scope_recommendation
from apps.support_bot.spec import APP, ARTICLES, OUT_OF_SCOPE, UTTERANCES
from apps.support_bot.text import render_template, template_variables, text_hash, word_count
from billing.metering import metered
from billing.models import Meter
from config.errors import ServiceError
from jobs.datasets import dataset_parse
from jobs.models import Job, ModelVersion
from jobs.online import online_call
from jobs.services import JobError, dataset_create, job_submit
from tenancy.context import require_tenant_id, tenant_context
from webhooks.services import webhook_emit

logger = logging.getLogger(__name__)

HANDOFF_EVENT = "conversation.handoff"
IMPORT_MAX_BYTES = 10 * 1024 * 1024
TOP_ARTICLES = 3


class BotError(ServiceError):
    """A request the bot refuses; ``code`` and ``status`` map onto the API error format."""


# --- Settings ----------------------------------------------------------------------------------


def bot_settings_get() -> BotSettings:
    """The tenant's settings, created with the defaults on first use."""
    found = BotSettings.objects.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return BotSettings.objects.create()
    except IntegrityError:  # created concurrently
        return BotSettings.objects.get()


def _clean_origin(origin: str) -> str:
    from urllib.parse import urlsplit

    value = origin.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
        raise BotError(_("'%(origin)s' is not an origin (scheme and host, e.g. "
                         "https://shop.example.com)") % {"origin": origin},
                       fields={"widget_origins": [origin]})
    return f"{parts.scheme}://{parts.netloc}".lower()


@transaction.atomic
def bot_settings_update(*, changes: dict[str, Any]) -> BotSettings:
    current = bot_settings_get()
    for name in ("intent_threshold", "article_threshold", "ambiguity_margin", "scope_threshold"):
        if changes.get(name) is not None and not 0.0 <= float(changes[name]) <= 1.0:
            raise BotError(_("%(name)s must be between 0 and 1.") % {"name": name},
                           fields={name: [_("between 0 and 1")]})
    if "target_false_handoff" in changes and not 0.0 < float(
            changes["target_false_handoff"]) < 0.5:
        raise BotError(_("target_false_handoff must be above 0 and below 0.5."),
                       fields={"target_false_handoff": [_("above 0 and below 0.5")]})
    if "scope_threshold" in changes and changes["scope_threshold"] != current.scope_threshold:
        # Set by hand: no version's recommendation any more.
        changes.setdefault("scope_threshold_version", None)
    if "widget_origins" in changes:
        changes["widget_origins"] = sorted({_clean_origin(o) for o in changes["widget_origins"]})
    languages = [code for code, _label in WIDGET_LANGUAGES]
    if changes.get("widget_language", "") not in languages:
        raise BotError(_("The widget language must be one of %(codes)s.")
                       % {"codes": ", ".join(repr(code) for code in languages)},
                       fields={"widget_language": [_("not a widget language")]})
    _check_widget_look(changes)
    try:
        changes = generative_changes(changes)
    except GeneratorSettingsError as error:  # one refusal type for the API and the pages
        raise BotError(str(error), fields=error.fields) from None
    for name, value in changes.items():
        setattr(current, name, value)
    current.save()
    return current


def _check_widget_look(changes: dict[str, Any]) -> None:
    """The widget's colour is #rrggbb (it goes into the visitor's page styles) and its
    avatar an https URL (the shop's pages are https; no other scheme reaches an ``img``)."""
    import re

    if "widget_colour" in changes:
        colour = str(changes["widget_colour"]).strip().lower()
        if not re.fullmatch(r"#[0-9a-f]{6}", colour):
            raise BotError(_("The widget colour must be #rrggbb, e.g. #2456d6."),
                           fields={"widget_colour": [_("not a #rrggbb colour")]})
        changes["widget_colour"] = colour
    avatar = str(changes.get("widget_avatar_url", "")).strip()
    if avatar and (not avatar.lower().startswith("https://") or len(avatar) > 500
                   or any(c.isspace() or c in "\"'<>" for c in avatar)):
        raise BotError(_("The avatar must be an https:// URL."),
                       fields={"widget_avatar_url": [_("not an https URL")]})
    if "widget_avatar_url" in changes:
        changes["widget_avatar_url"] = avatar


@transaction.atomic
def scope_threshold_apply(*, version: ModelVersion) -> BotSettings:
    """Use ``version``'s recommended in-scope threshold: from now on a message whose score is
    below it is out of scope (handed off) whatever the intent's confidence."""
    if version.app != APP:
        raise BotError("This model version is not an intent model.",
                       fields={"version": ["not a support-bot version"]})
    recommendation = scope_recommendation(version)
    if recommendation is None:
        raise BotError(f"Version v{version.version} has no recommended threshold; train a new "
                       "version.", fields={"version": ["no out-of-scope recommendation"]})
    current = bot_settings_get()
    current.scope_threshold = float(recommendation["threshold"])
    current.scope_threshold_version = version.version
    current.save(update_fields=["scope_threshold", "scope_threshold_version", "updated_at"])
    return current


@transaction.atomic
def widget_key_rotate() -> BotSettings:
    """A new public widget key; pages embedding the old one stop working at once."""
    current = bot_settings_get()
    current.widget_key = new_widget_key()
    current.save(update_fields=["widget_key", "updated_at"])
    return current


# --- Intents and utterances --------------------------------------------------------------------


def _check_template(template: str) -> None:
    try:
        template_variables(template)
    except ValueError as error:
        raise BotError(str(error), fields={"answer_template": [str(error)]}) from None


def _clean_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise BotError(_("An intent needs a name."), fields={"name": [_("may not be blank")]})
    if len(value) > 100:
        raise BotError(_("The name is too long."),
                       fields={"name": [_("at most 100 characters")]})
    return value


def _article_of(article: Article | int | None) -> Article | None:
    """The tenant's article (an id of another tenant's is not found: 400 on the field)."""
    if article is None or isinstance(article, Article):
        return article
    found = Article.objects.filter(pk=article).first()
    if found is None:
        raise BotError("No article with this id.", fields={"article": ["not found"]})
    return found


@transaction.atomic
def intent_create(*, name: str, description: str = "", answer_template: str = "",
                  handoff: bool = False, article: Article | int | None = None) -> Intent:
    """An intent; without a template of its own it answers with ``article``."""
    name = _clean_name(name)
    _check_template(answer_template)
    if Intent.objects.filter(name=name).exists():
        raise BotError(_("There is already an intent named '%(name)s'.") % {"name": name},
                       code="conflict", fields={"name": [_("already exists")]})
    return Intent.objects.create(name=name, description=description,
                                 answer_template=answer_template, handoff=handoff,
                                 article=_article_of(article))


@transaction.atomic
def intent_update(*, intent: Intent, changes: dict[str, Any]) -> Intent:
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
        if Intent.objects.filter(name=changes["name"]).exclude(pk=intent.pk).exists():
            raise BotError(_("There is already an intent named '%(name)s'.")
                           % {"name": changes["name"]},
                           code="conflict", fields={"name": [_("already exists")]})
    if "answer_template" in changes:
        _check_template(changes["answer_template"])
    if "article" in changes:
        changes["article"] = _article_of(changes["article"])
    for name, value in changes.items():
        setattr(intent, name, value)
    intent.save()
    return intent


@transaction.atomic
def intent_delete(*, intent: Intent) -> None:
    intent.delete()


# The refusals name the field in the reader's language, so each field has its own sentence.
_EMPTY = {"text": gettext_lazy("The text is empty."),
          "question": gettext_lazy("The question is empty."),
          "answer": gettext_lazy("The answer is empty.")}
_TOO_LONG = {"text": gettext_lazy("The text is longer than %(limit)s characters."),
             "question": gettext_lazy("The question is longer than %(limit)s characters."),
             "answer": gettext_lazy("The answer is longer than %(limit)s characters.")}


def _clean_text(text: str, field: str = "text", max_chars: int = MESSAGE_MAX_CHARS) -> str:
    value = text.strip()
    if not value:
        raise BotError(str(_EMPTY[field]), fields={field: [_("may not be blank")]})
    if len(value) > max_chars:
        limit = f"{max_chars:,}"
        raise BotError(str(_TOO_LONG[field]) % {"limit": limit},
                       fields={field: [_("at most %(limit)s characters") % {"limit": limit}]})
    return value


@transaction.atomic
def utterance_create(*, intent: Intent, text: str,
                     source: str = Utterance.Source.MANUAL) -> Utterance:
    """An utterance of ``intent`` (the same text twice is stored once)."""
    text = _clean_text(text, max_chars=UTTERANCE_MAX_CHARS)
    utterance, _ = Utterance.objects.get_or_create(intent=intent, text=text,
                                                   defaults={"source": source})
    return utterance


@transaction.atomic
def utterance_delete(*, utterance: Utterance) -> None:
    utterance.delete()


@dataclass(frozen=True)
class ImportResult:
    created: int
    duplicates: int
    intents_created: int = 0


def _parse_csv(data: bytes, schema: Any) -> list[dict[str, Any]]:
    return dataset_parse(data=data, filename="import.csv", schema=schema,
                         max_bytes=IMPORT_MAX_BYTES).rows


@transaction.atomic
def utterances_import_csv(*, data: bytes) -> ImportResult:
    """``text,intent`` rows, all or nothing: an invalid file raises ``DatasetInvalid`` naming
    row and column and stores nothing. Unknown intents are created."""
    rows = _parse_csv(data, UTTERANCES)
    intents = {intent.name: intent for intent in Intent.objects.all()}
    new_names = sorted({row["intent"] for row in rows} - set(intents))
    for name in new_names:
        intents[name] = Intent.objects.create(name=name)
    existing = set(Utterance.objects.values_list("intent__name", "text"))
    fresh: dict[tuple[str, str], Utterance] = {}
    for row in rows:
        key = (row["intent"], row["text"].strip())
        if key in existing or key in fresh or not key[1]:
            continue
        fresh[key] = Utterance(intent=intents[key[0]], text=key[1], source=Utterance.Source.CSV,
                               tenant_id=require_tenant_id())
    Utterance.objects.bulk_create(fresh.values())
    return ImportResult(created=len(fresh), duplicates=len(rows) - len(fresh),
                        intents_created=len(new_names))


def intent_model_train(*, created_by_id: int | None = None, params: dict[str, Any] | None = None
                       ) -> Job:
    """Submit a fine-tune of the intent model on the intents' utterances."""
    if Intent.objects.filter(utterances__isnull=False).exclude(name=OUT_OF_SCOPE).distinct(
            ).count() < 2:
        raise JobError(_("Add utterances to at least two intents first."),
                       fields={"utterances": [_("at least two intents need utterances")]})
    return job_submit(app=APP, kind="fine_tune", params=params or {},
                      created_by_id=created_by_id).job


# --- Knowledge base ---------------------------------------------------------------------------


TAG_SEPARATORS = re.compile(r"[,;]")


def tags_split(text: str) -> list[str]:
    """Tags typed as one string: separated by commas or semicolons, either or both (the
    article form and the CSV import accept the same; a CSV cell with commas needs quotes,
    so semicolons are the import's habit)."""
    return [tag.strip() for tag in TAG_SEPARATORS.split(text) if tag.strip()]


def _clean_tags(tags: Sequence[str]) -> list[str]:
    cleaned = sorted({tag.strip().lower() for tag in tags if tag.strip()})
    too_long = [tag for tag in cleaned if len(tag) > 50]
    if too_long:
        raise BotError(_("A tag is longer than 50 characters."), fields={"tags": too_long[:3]})
    return cleaned


def _clean_url(url: str) -> str:
    """An article's public link: empty, or an http(s) URL (cited in replies, so never a
    ``javascript:`` one)."""
    from urllib.parse import urlsplit

    value = (url or "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 500:
        raise BotError(_("The link must be an http or https URL of at most 500 characters."),
                       fields={"url": [_("not an http(s) URL")]})
    return value


@transaction.atomic
def article_create(*, question: str, answer: str, tags: Sequence[str] = (),
                   url: str = "") -> Article:
    article = Article.objects.create(question=_clean_text(question, "question"),
                                     answer=_clean_text(answer, "answer", 20_000),
                                     tags=_clean_tags(tags), url=_clean_url(url))
    embedding_schedule_on_commit()
    return article


@transaction.atomic
def article_update(*, article: Article, changes: dict[str, Any]) -> Article:
    if "question" in changes:
        changes["question"] = _clean_text(changes["question"], "question")
    if "answer" in changes:
        changes["answer"] = _clean_text(changes["answer"], "answer", 20_000)
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"])
    if "url" in changes:
        changes["url"] = _clean_url(changes["url"])
    for name, value in changes.items():
        setattr(article, name, value)
    article.save()
    if article.embedded_text_hash != text_hash(article.embedding_text):
        embedding_schedule_on_commit()
    return article


@transaction.atomic
def article_delete(*, article: Article) -> None:
    article.delete()


@transaction.atomic
def articles_import_csv(*, data: bytes) -> ImportResult:
    """``question,answer[,tags]`` rows (tags separated by ``;`` or ``,``), all or nothing. An
    article with the same question is updated rather than duplicated."""
    rows = _parse_csv(data, ARTICLES)
    by_question = {article.question: article for article in Article.objects.all()}
    created = 0
    for row in rows:
        tags = _clean_tags(tags_split(row.get("tags") or ""))
        question, answer = row["question"].strip(), row["answer"].strip()
        article = by_question.get(question)
        if article is None:
            by_question[question] = Article.objects.create(question=question, answer=answer,
                                                           tags=tags)
            created += 1
        elif (article.answer, article.tags) != (answer, tags):
            article.answer, article.tags = answer, tags
            article.save(update_fields=["answer", "tags", "updated_at"])
    embedding_schedule_on_commit()
    return ImportResult(created=created, duplicates=len(rows) - created)


def articles_stale() -> Any:
    """Articles whose embedding is missing or older than their text, or whose sentences are
    not embedded yet (articles embedded before sentences were stored); read by the job."""
    from django.db.models import Exists, OuterRef

    articles = Article.objects.only("id", "question", "answer", "embedded_text_hash").annotate(
        has_sentences=Exists(ArticleSentence.objects.filter(article=OuterRef("pk"))))
    return [article for article in articles.order_by("id")
            if article.embedded_text_hash != text_hash(article.embedding_text)
            or not article.has_sentences]


def embedding_schedule() -> Job | None:
    """Submit an ``embed_articles`` job unless one is already queued (it will see every
    change made before it starts)."""
    if Job.objects.filter(app=APP, kind="embed_articles", status=Job.Status.QUEUED).exists():
        return None
    return job_submit(app=APP, kind="embed_articles", params={}).job


def embedding_schedule_on_commit() -> None:
    tenant_id = require_tenant_id()

    def schedule() -> None:
        # After the commit: a failure must not turn the saved change into an error (the next
        # change, or a manual job, embeds the article).
        try:
            with tenant_context(tenant_id):
                embedding_schedule()
        except Exception:
            logger.exception("could not schedule article embedding for tenant %s", tenant_id)

    transaction.on_commit(schedule)


SentenceVectors = Sequence[tuple[str, Sequence[float]]]


@transaction.atomic
def article_embeddings_record(*, embeddings: Sequence[tuple[int, str, Sequence[float]]],
                              sentences: dict[int, SentenceVectors] | None = None) -> int:
    """Store ``(article id, hash of the embedded text, vector)`` and, for the articles in
    ``sentences``, their answer's sentences with their vectors (replacing the old ones). An
    article edited since it was read keeps its stale state (its hash differs) and is embedded
    by the next job; an article deleted meanwhile gets nothing."""
    now = timezone.now()
    written = 0
    tenant_id = require_tenant_id()
    for article_id, embedded_hash, vector in embeddings:
        updated = Article.objects.filter(pk=article_id).update(
            embedding=list(vector), embedded_text_hash=embedded_hash, embedded_at=now)
        written += updated
        if updated and sentences is not None and article_id in sentences:
            ArticleSentence.objects.filter(article_id=article_id).delete()
            ArticleSentence.objects.bulk_create([
                ArticleSentence(tenant_id=tenant_id, article_id=article_id, position=position,
                                text=text, embedding=list(sentence_vector))
                for position, (text, sentence_vector) in enumerate(sentences[article_id])])
    return written


@transaction.atomic
def backlog_report_submit(*, name: str, data: bytes, created_by_id: int | None = None) -> Job:
    """Store past tickets (a CSV or JSON lines with a ``text`` column) as a dataset and
    classify them with the active intent model into an intent distribution. A refused file
    raises ``DatasetInvalid`` and stores nothing."""
    dataset = dataset_create(app=APP, purpose="tickets", name=name, filename=name, data=data,
                             created_by_id=created_by_id)
    return job_submit(app=APP, kind="classify_backlog", params={}, dataset_id=dataset.pk,
                      created_by_id=created_by_id).job


# --- Conversations and answering ---------------------------------------------------------------


@transaction.atomic
def conversation_start(*, channel: str = Conversation.Channel.API, external_user_id: str = "",
                       context: dict[str, Any] | None = None) -> Conversation:
    if context is not None and not isinstance(context, dict):
        raise BotError("The context must be an object.", fields={"context": ["not an object"]})
    return Conversation.objects.create(
        channel=channel, external_user_id=external_user_id[:200], context=context or {},
        access_token=secrets.token_urlsafe(24) if channel == Conversation.Channel.WIDGET else "")


@transaction.atomic
def message_receive(*, conversation: Conversation, text: str) -> Message:
    """Store the customer's message (committed before any worker is asked). A resolved
    conversation opens again."""
    text = _clean_text(text)
    message = Message.objects.create(conversation=conversation, role=Message.Role.USER,
                                     text=text)
    if conversation.status == Conversation.Status.RESOLVED:
        conversation.status = Conversation.Status.OPEN
        conversation.resolved_at = None
    conversation.save(update_fields=["status", "resolved_at", "updated_at"])
    return message


@dataclass(frozen=True)
class Analysis:
    """What the worker found for one message (``support.analyse``)."""

    intent: str
    confidence: float | None
    articles: list[dict[str, Any]]  # [{"id": ..., "similarity": ...}], best first
    # The version that ran, by id and number, as the worker names it (None: the default).
    model_version_id: int | None = None
    model_version_number: int | None = None
    runner_up: str = ""  # the second likeliest intent
    runner_up_confidence: float | None = None
    scope_score: float | None = None  # similarity to the training utterances (0-1)
    # The composer's passages: sentences of the articles above (and of the predicted intent's
    # linked article) with their similarity to the message (``selectors.sentences_scored``).
    passages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_worker(cls, data: dict[str, Any]) -> Analysis:
        return cls(intent=data.get("intent") or "", confidence=data.get("confidence"),
                   articles=list(data.get("articles") or []),
                   model_version_id=data.get("model_version"),
                   model_version_number=data.get("model_version_number"),
                   runner_up=data.get("runner_up") or "",
                   runner_up_confidence=data.get("runner_up_confidence"),
                   scope_score=data.get("scope_score"),
                   passages=list(data.get("passages") or []))


def _handoff(conversation: Conversation, reason: str) -> None:
    if conversation.status == Conversation.Status.HANDED_OFF:
        return
    conversation.status = Conversation.Status.HANDED_OFF
    conversation.handed_off_at = timezone.now()
    conversation.handoff_reason = reason[:120]
    conversation.save(update_fields=["status", "handed_off_at", "handoff_reason", "updated_at"])
    webhook_emit(event=HANDOFF_EVENT, payload=conversation_payload(conversation, reason=reason))
    from apps.support_bot.handoff import handoff_notify  # it imports this module

    handoff_notify(conversation=conversation, reason=reason)


def conversation_payload(conversation: Conversation, *, reason: str = "") -> dict[str, Any]:
    last = conversation.messages.filter(role=Message.Role.USER).order_by("-id").first()
    return {"id": conversation.pk, "channel": conversation.channel,
            "external_user_id": conversation.external_user_id, "status": conversation.status,
            "reason": reason, "last_intent": conversation.last_intent,
            "last_message": last.text if last else ""}


def _in_scope(config: BotSettings, analysis: Analysis) -> bool:
    """Whether the message is one the intents cover: with an applied scope threshold and a
    model that scores scope, the score decides; otherwise the intent's confidence does."""
    if not analysis.intent or analysis.intent == OUT_OF_SCOPE:
        return False
    if config.scope_threshold is not None and analysis.scope_score is not None:
        return analysis.scope_score >= config.scope_threshold
    return analysis.confidence is not None and analysis.confidence >= config.intent_threshold


def _ambiguous(config: BotSettings, analysis: Analysis) -> bool:
    """The two likeliest intents are too close to pick one (margin 0: never)."""
    return (config.ambiguity_margin > 0 and bool(analysis.runner_up)
            and analysis.runner_up != OUT_OF_SCOPE
            and analysis.confidence is not None and analysis.runner_up_confidence is not None
            and analysis.confidence - analysis.runner_up_confidence < config.ambiguity_margin)


def _chosen_intent(conversation: Conversation, text: str) -> str:
    """The intent the customer picked, when the bot's last reply offered a choice and the
    message names one of them (its number, name or description)."""
    last = conversation.messages.filter(role=Message.Role.BOT).order_by("-id").first()
    if last is None or last.reply_kind != Message.ReplyKind.CHOICE or not last.choices:
        return ""
    answer = " ".join(text.lower().replace("_", " ").strip(" .!?").split())
    intents = {intent.name: intent for intent in Intent.objects.filter(name__in=last.choices)}
    for number, name in enumerate(last.choices, start=1):
        intent = intents.get(name)
        labels = {str(number), name.lower().replace("_", " ")}
        if intent is not None and intent.description:
            labels.add(" ".join(intent.description.lower().split()))
        if answer in labels:
            return name
    return ""


def _choice_text(names: list[str]) -> str:
    intents = {intent.name: intent for intent in Intent.objects.filter(name__in=names)}
    labels = [(intents[name].description.strip() if name in intents
               and intents[name].description.strip() else name.replace("_", " "))
              for name in names]
    return _("Did you mean 1. %(first)s or 2. %(second)s? Reply 1 or 2.") % {
        "first": labels[0], "second": labels[1]}


@transaction.atomic
def message_answer(*, message: Message, analysis: Analysis, latency_ms: int) -> Message | None:
    """Decide and store the bot's reply to ``message`` (none when a person took the
    conversation while the message was being analysed):

    0. when the bot's last reply offered two intents and the customer picked one, that one;
    1. an in-scope intent (``_in_scope``; or, for a short follow-up that is not, the
       conversation's previous intent) whose runner-up is too close asks the customer to
       choose between the two (``_ambiguous``); one that asks for a person hands off; one
       with a template answers with it, else with its linked article;
    2. else the best article, when its similarity passes the tenant's threshold;
       an article reply (1 or 2) is composed from the retrieved articles' sentences, that
       article's first (``compose``), citing the articles quoted;
    3. else the fallback message, and the conversation is handed off (webhook
       ``conversation.handoff``).
    """
    conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
    if conversation.status == Conversation.Status.HANDED_OFF:
        return None
    config = bot_settings_get()
    intent_name, confidence = analysis.intent, analysis.confidence
    chosen = _chosen_intent(conversation, message.text)
    confident = bool(chosen) or _in_scope(config, analysis)
    if chosen:
        intent_name = chosen
    used_previous = False
    if (not confident and conversation.last_intent
            and word_count(message.text) <= config.followup_max_words):
        intent_name, confident, used_previous = conversation.last_intent, True, True
    intent = Intent.objects.filter(name=intent_name).exclude(name=OUT_OF_SCOPE).select_related(
        "article").first() if confident else None
    ambiguous = (intent is not None and not chosen and not used_previous
                 and _ambiguous(config, analysis))

    best = analysis.articles[0] if analysis.articles else None
    article = None
    if best is not None and float(best["similarity"]) >= config.article_threshold:
        article = Article.objects.filter(pk=best["id"]).first()

    choices: list[str] = []
    if ambiguous:
        choices = [intent_name, analysis.runner_up]
        kind, text = Message.ReplyKind.CHOICE, _choice_text(choices)
    elif intent is not None and intent.handoff:
        kind, text = Message.ReplyKind.HANDOFF, config.fallback_message
    elif intent is not None and intent.answer_template:
        variables = {"intent": intent.name, "channel": conversation.channel,
                     "user": conversation.external_user_id, **conversation.context}
        kind, text = Message.ReplyKind.TEMPLATE, render_template(intent.answer_template,
                                                                 variables)
    elif intent is not None and intent.article is not None:
        article = intent.article
        kind, text = Message.ReplyKind.ARTICLE, article.answer
    elif article is not None:
        kind, text = Message.ReplyKind.ARTICLE, article.answer
    else:
        kind, text = Message.ReplyKind.FALLBACK, config.fallback_message
    citations: list[dict[str, Any]] = []
    if kind == Message.ReplyKind.ARTICLE and article is not None:
        # No template applies: compose from the articles, quoting the article chosen first.
        quoted = compose.compose(articles=[(int(a["id"]), float(a["similarity"]))
                                           for a in analysis.articles],
                                 passages=compose.passages_from(analysis.passages),
                                 primary=article.pk)
        # Its sentences not scored yet (an article embedded before sentences were stored):
        # the whole article, as before.
        if any(q.article_id == article.pk for q in quoted):
            citations = citations_of(compose.cited_ids(quoted))
            kind, text = Message.ReplyKind.COMPOSED, compose.reply_text(quoted)

    recorded = {"intent": intent_name if confident else analysis.intent,
                "confidence": confidence, "used_previous_intent": used_previous,
                "retrieved": analysis.articles, "scope_score": analysis.scope_score}
    Message.objects.filter(pk=message.pk).update(**recorded)
    for name, value in recorded.items():  # the caller's copy, without reading it back
        setattr(message, name, value)
    reply = Message.objects.create(
        conversation=conversation, role=Message.Role.BOT, text=text, reply_kind=kind,
        article=article if kind in (Message.ReplyKind.ARTICLE, Message.ReplyKind.COMPOSED)
        else None, citations=citations,
        composer="extractive" if kind == Message.ReplyKind.COMPOSED else "",
        latency_ms=latency_ms,
        model_version_id=analysis.model_version_id,
        model_version_number=analysis.model_version_number, choices=choices, **recorded)
    if confident and intent_name and not ambiguous:
        conversation.last_intent = intent_name
    conversation.save(update_fields=["last_intent", "updated_at"])
    if kind in (Message.ReplyKind.FALLBACK, Message.ReplyKind.HANDOFF):
        _handoff(conversation, reason=_handoff_reason(kind, analysis, config, intent_name))
    return reply


def _handoff_reason(kind: str, analysis: Analysis, config: BotSettings, intent_name: str
                    ) -> str:
    if kind == Message.ReplyKind.HANDOFF:
        return f"intent:{intent_name}"
    if (config.scope_threshold is not None and analysis.scope_score is not None
            and analysis.scope_score < config.scope_threshold) or analysis.intent == OUT_OF_SCOPE:
        return "out_of_scope"
    return "low_confidence"


@dataclass(frozen=True)
class ChatResult:
    message: Message
    reply: Message | None  # None while a person handles the conversation
    status: str  # the conversation's status after the reply


def chat(*, conversation: Conversation, text: str, timeout: float | None = None) -> ChatResult:
    """Receive a customer's message and answer it through the ``online`` queue.

    Raises ``jobs.online.OnlineUnavailable`` when no worker answers in time (the message is
    kept) and ``OnlineFailed`` when the worker fails. A handed-off conversation gets no bot
    reply: a person has it.
    """
    started = time.monotonic()
    # Metered per customer message (``chat_messages``), before anything is stored: over the
    # plan's hard limit it is a 402 and nothing is kept; a message the bot could not answer
    # (no worker, worker error) is kept but not billed.
    with metered(meter=Meter.CHAT_MESSAGES):
        message = message_receive(conversation=conversation, text=text)
        if conversation.status == Conversation.Status.HANDED_OFF:
            return ChatResult(message=message, reply=None, status=conversation.status)
        # Handoff (apps.support_bot.handoff): "talk to a human" is answered before any model.
        from apps.support_bot import handoff

        if handoff.handoff_requested(message.text):
            reply = handoff.customer_handoff_request(conversation=conversation)
            return ChatResult(message=message, reply=reply, status=conversation.status)
        found = online_call("support.analyse", message.text, TOP_ARTICLES, timeout=timeout)
    latency_ms = round((time.monotonic() - started) * 1000)
    answered = message_answer(message=message, analysis=Analysis.from_worker(found),
                              latency_ms=latency_ms)
    if answered is None:  # a person took the conversation meanwhile
        conversation.refresh_from_db(fields=["status"])
        return ChatResult(message=message, reply=None, status=conversation.status)
    # A composed reply may be rewritten by the tenant's generator, when grounded.
    reply = reply_generate(reply=answered, question=message.text)
    return ChatResult(message=message, reply=reply, status=reply.conversation.status)


# --- Human agents -----------------------------------------------------------------------------


@transaction.atomic
def agent_reply(*, conversation: Conversation, text: str, author_id: int | None,
                save_as: str = "", intent_name: str = "", question: str = "") -> Message:
    """An agent's answer in the conversation. ``save_as="utterance"`` stores the customer's
    last message as a training utterance of ``intent_name`` (created if new);
    ``save_as="article"`` stores the answer as a knowledge-base article for ``question``
    (default: the customer's last message)."""
    text = _clean_text(text)
    if conversation.status == Conversation.Status.RESOLVED:
        raise BotError(_("This conversation is resolved."), code="conflict")
    last_question = conversation.messages.filter(role=Message.Role.USER).order_by("-id").first()
    if save_as == "utterance":
        if last_question is None:
            raise BotError(_("There is no customer message to learn from."),
                           fields={"save_as": [_("no customer message")]})
        name = _clean_name(intent_name or "")
        intent = Intent.objects.filter(name=name).first() or Intent.objects.create(name=name)
        utterance_create(intent=intent, text=last_question.text,
                         source=Utterance.Source.AGENT)
    elif save_as == "article":
        article_question = question.strip() or (last_question.text if last_question else "")
        article_create(question=article_question, answer=text, tags=["agent"])
    elif save_as:
        raise BotError("save_as must be 'utterance' or 'article'.",
                       fields={"save_as": ["choose utterance or article"]})
    message = Message.objects.create(conversation=conversation, role=Message.Role.AGENT,
                                     text=text, author_id=author_id)
    conversation.save(update_fields=["updated_at"])
    return message


@transaction.atomic
def conversation_resolve(*, conversation: Conversation) -> Conversation:
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = timezone.now()
    # Nobody owns a resolved conversation: if the customer writes again, the bot answers.
    conversation.assignee_id, conversation.owned_at = None, None
    conversation.save(update_fields=["status", "resolved_at", "assignee", "owned_at",
                                     "updated_at"])
    return conversation


@transaction.atomic
def conversation_handoff(*, conversation: Conversation, reason: str = "requested") -> Conversation:
    """Hand the conversation to a person on request (e.g. the customer asked for one)."""
    _handoff(conversation, reason=reason)
    return conversation


@transaction.atomic
def feedback_create(*, conversation: Conversation, rating: str, comment: str = "",
                    message_id: int | None = None) -> Feedback:
    """A rating of the conversation, or of one bot reply in it (rating it again replaces the
    earlier rating)."""
    if rating not in Feedback.Rating.values:
        raise BotError("rating must be 'up' or 'down'.", fields={"rating": ["up or down"]})
    if len(comment) > 2000:
        raise BotError("The comment is too long.", fields={"comment": ["at most 2,000 "
                                                                       "characters"]})
    if message_id is None:
        return Feedback.objects.create(conversation=conversation, rating=rating,
                                       comment=comment)
    message = conversation.messages.filter(pk=message_id, role=Message.Role.BOT).first()
    if message is None:
        raise BotError("No bot reply with this id in the conversation.",
                       fields={"message": ["not a bot reply of this conversation"]})
    feedback, _ = Feedback.objects.update_or_create(
        message=message, defaults={"conversation": conversation, "rating": rating,
                                   "comment": comment})
    return feedback
