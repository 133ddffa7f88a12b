"""``/api/v1/bot/review...`` and ``/api/v1/bot/content-gaps``: the improvement loop's API.
Thin views over ``review``. A message of another tenant, or one already reviewed, is not in
the queue: the same 404 as a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.viewsets import TenantScopedAPIView, TenantScopedViewSetMixin
from apps.support_bot import review
from apps.support_bot.models import MESSAGE_MAX_CHARS, ContentGap, Message, ReviewItem
from apps.support_bot.params import ContentGapParams


def _person_id(request: Request) -> int | None:
    if request.user.is_authenticated and not getattr(request._request, "api_key", None):
        return int(request.user.pk)
    return None


class ReviewMessageSerializer(serializers.ModelSerializer):
    reasons = serializers.SerializerMethodField(
        help_text="handed_off, thumbs_down and/or low_confidence")
    agent_reply = serializers.CharField(source="agent_reply_text", allow_null=True,
                                        read_only=True, default=None)

    class Meta:
        model = Message
        fields = ("id", "conversation", "text", "intent", "confidence", "reasons",
                  "agent_reply", "created_at")
        read_only_fields = fields

    def get_reasons(self, message: Message) -> list[str]:
        return review.review_reasons(message)


class ReviewItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewItem
        fields = ("id", "message", "state", "utterance", "article", "reviewed_by",
                  "reviewed_at")
        read_only_fields = fields


class LabelSerializer(serializers.Serializer):
    intent = serializers.CharField(max_length=100, help_text="An existing intent's name")


class ArticleFromReplySerializer(serializers.Serializer):
    question = serializers.CharField(max_length=MESSAGE_MAX_CHARS, required=False,
                                     allow_blank=True, help_text="Default: the message")
    answer = serializers.CharField(max_length=20_000, required=False, allow_blank=True,
                                   help_text="Default: the agent's reply to the message")


@extend_schema(tags=["bot"])
class ReviewViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, GenericViewSet):
    """The "needs review" queue: customer messages handed off, rated 👎 or below the
    confidence threshold, newest first. Each action takes the message out of the queue."""

    serializer_class = ReviewMessageSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Message]:
        return review.review_queue()

    def _done(self, item: ReviewItem) -> Response:
        return Response(ReviewItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Label the message with an intent (a training utterance)",
                   request=LabelSerializer, responses={201: ReviewItemSerializer})
    @action(detail=True, methods=["post"])
    def label(self, request: Request, pk: str) -> Response:
        message = self.get_object()
        payload = LabelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._done(review.review_label(message=message,
                                              intent_name=payload.validated_data["intent"],
                                              reviewed_by_id=_person_id(request)))

    @extend_schema(summary="Turn the agent's reply to the message into an article",
                   request=ArticleFromReplySerializer, responses={201: ReviewItemSerializer})
    @action(detail=True, methods=["post"])
    def article(self, request: Request, pk: str) -> Response:
        message = self.get_object()
        payload = ArticleFromReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._done(review.review_article(message=message,
                                                reviewed_by_id=_person_id(request),
                                                **payload.validated_data))

    @extend_schema(summary="Dismiss the message (nothing to learn)", request=None,
                   responses={201: ReviewItemSerializer})
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        return self._done(review.review_dismiss(message=self.get_object(),
                                                reviewed_by_id=_person_id(request)))


class ContainmentSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class DaysSerializer(serializers.Serializer):
    days = serializers.IntegerField(default=14, min_value=1, max_value=90,
                                    help_text="Days on each side of the promotion")


class LoopEffectView(TenantScopedAPIView):
    @extend_schema(tags=["bot"], summary="Containment before and after the active intent "
                   "model's promotion", parameters=[DaysSerializer],
                   responses=inline_serializer("BotLoopEffect", {
                       "version": serializers.IntegerField(allow_null=True),
                       "version_number": serializers.IntegerField(allow_null=True),
                       "promoted_at": serializers.DateTimeField(allow_null=True),
                       "days": serializers.IntegerField(),
                       "before": ContainmentSerializer(allow_null=True),
                       "after": ContainmentSerializer(allow_null=True),
                       "change": serializers.FloatField(allow_null=True),
                   }))
    def get(self, request: Request) -> Response:
        query = DaysSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        effect = review.loop_effect(days=query.validated_data["days"])

        def side(value: review.Containment | None) -> dict[str, Any] | None:
            return None if value is None else {"conversations": value.conversations,
                                               "handed_off": value.handed_off,
                                               "rate": value.rate}

        return Response({"version": effect.version.pk if effect.version else None,
                         "version_number": effect.version.version if effect.version else None,
                         "promoted_at": effect.promoted_at, "days": effect.days,
                         "before": side(effect.before), "after": side(effect.after),
                         "change": effect.change})


class ContentGapSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContentGap
        fields = ("rank", "size", "label", "examples", "message_ids")
        read_only_fields = fields


class ContentGapsView(TenantScopedAPIView):
    @extend_schema(tags=["bot"], summary="The latest content-gap report: clusters of "
                   "unanswered questions by volume",
                   responses=inline_serializer("BotContentGaps", {
                       "job": serializers.IntegerField(allow_null=True),
                       "status": serializers.CharField(allow_null=True),
                       "clusters": ContentGapSerializer(many=True),
                   }))
    def get(self, request: Request) -> Response:
        latest, clusters = review.content_gaps_latest()
        return Response({"job": latest.pk if latest else None,
                         "status": latest.status if latest else None,
                         "clusters": ContentGapSerializer(clusters, many=True).data})

    @extend_schema(tags=["bot"], summary="Find the content gaps again (a job)",
                   request=ContentGapParams, responses={202: inline_serializer(
                       "BotContentGapsJob", {"job": serializers.IntegerField(),
                                             "status": serializers.CharField()})})
    def post(self, request: Request) -> Response:
        payload = ContentGapParams(data=request.data)
        payload.is_valid(raise_exception=True)
        job = review.content_gaps_submit(created_by_id=_person_id(request),
                                         params=dict(payload.validated_data))
        return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
