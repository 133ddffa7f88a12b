"""Parameters of the bot's job kinds."""

from __future__ import annotations

from rest_framework import serializers

from jobs.params import FineTuneParams


class IntentFineTuneParams(FineTuneParams):
    """The intent classifier. ``auto`` (the default) picks a linear head on the frozen base's
    embeddings for the many intents a bot has (``jobs.method_choice``): minutes on a CPU for
    BANKING77's 10,000 utterances, about 0.92 accuracy. Without a dataset the job trains on
    the tenant's utterances."""

    max_length = serializers.IntegerField(default=64, min_value=8, max_value=512)


class EmbedArticlesParams(serializers.Serializer):
    """Embeds every article whose text changed since it was last embedded (or ``all``)."""

    all = serializers.BooleanField(default=False, help_text="Embed every article again")


class ClassifyBacklogParams(serializers.Serializer):
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)


class ContentGapParams(serializers.Serializer):
    """Clusters the unanswered questions of the last ``days`` days (the latest
    ``max_questions``) by meaning: two questions join when their embeddings' average cosine
    similarity is at least ``similarity``."""

    days = serializers.IntegerField(default=30, min_value=1, max_value=365)
    similarity = serializers.FloatField(default=0.6, min_value=0.05, max_value=0.99)
    max_questions = serializers.IntegerField(default=1000, min_value=2, max_value=2000)
