"""Parameters of the recommendation app's job kinds (validated by ``jobs.services.job_submit``).

The training defaults are the recipe chosen on a validation split carved from goodbooks-10k's
training ratings (``bench/recs.py`` reproduces the figures; README, "Recommendation quality").
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import ChoiceField
from jobs.params import FineTuneParams, unknown_params


class TrainParams(serializers.Serializer):
    factors = serializers.IntegerField(default=128, min_value=2, max_value=512)
    iterations = serializers.IntegerField(default=15, min_value=1, max_value=100)
    regularization = serializers.FloatField(default=0.05, min_value=0.0, max_value=100.0)
    alpha = serializers.FloatField(default=1.0, min_value=0.01, max_value=1000.0)
    bm25_k1 = serializers.FloatField(default=100.0, min_value=0.0, max_value=1000.0)
    bm25_b = serializers.FloatField(default=0.8, min_value=0.0, max_value=1.0)
    popularity_weight = serializers.FloatField(default=0.0, min_value=0.0, max_value=10.0)
    content_weight = serializers.FloatField(default=0.05, min_value=0.0, max_value=10.0)
    recency_half_life_days = serializers.FloatField(
        default=90.0, min_value=1.0, max_value=3650.0,
        help_text="The popularity prior counts an event half as much after this many days")
    ranker = serializers.BooleanField(
        default=True, help_text="Train a LambdaRank ranker on a validation split; it serves "
                                "only if it beats the hand-weighted blend there")
    holdout_fraction = serializers.FloatField(default=0.2, min_value=0.05, max_value=0.5)
    seed = serializers.IntegerField(default=42, min_value=0, max_value=2**32 - 1)
    force = serializers.BooleanField(default=False,
                                     help_text="Promote even if worse than the active version")
    recommend_k = serializers.IntegerField(
        default=20, min_value=0, max_value=200,
        help_text="When the version is promoted, submit a top-K job with this K (0: none)")


@extend_schema_field(TrainParams)
class FollowingTrainField(serializers.DictField):
    """The parameters of the train job that follows (``TrainParams`` in the schema)."""


class EmbedItemsParams(serializers.Serializer):
    scope = ChoiceField(choices=["missing", "all"], default="missing",
                                    help_text="missing: items without an embedding or changed "
                                              "since; all: every item again")
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)
    base_model = serializers.CharField(default="all-MiniLM-L6-v2", max_length=200)

    then_train = FollowingTrainField(
        required=False, allow_null=True, default=None,
        help_text="When set, a train job with these parameters follows the embeddings")

    validate_base_model = FineTuneParams.validate_base_model

    def validate_then_train(self, value: dict | None) -> dict | None:
        if value is not None:
            train = TrainParams(data=value)
            errors = {**unknown_params(train, value),
                      **({} if train.is_valid() else train.errors)}
            if errors:
                raise serializers.ValidationError(
                    [f"{name}: {'; '.join(map(str, problems))}"
                     for name, problems in errors.items()])
            return dict(train.validated_data)
        return value


class RecommendParams(serializers.Serializer):
    k = serializers.IntegerField(default=20, min_value=1, max_value=200)
    exclude_consumed = serializers.BooleanField(
        default=True, help_text="Leave out items the user already interacted with")
    available_only = serializers.BooleanField(default=True)
