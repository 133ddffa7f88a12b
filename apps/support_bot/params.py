"""Parameters of the bot's job kinds."""

from __future__ import annotations

from rest_framework import serializers

from api.fields import ChoiceField
from jobs.params import FineTuneParams


class IntentFineTuneParams(FineTuneParams):
    """The intent classifier. ``head`` (the default) trains a linear head on the frozen base's
    embeddings: minutes on a CPU for BANKING77's 10,000 utterances, about 0.92 accuracy.
    Without a dataset the job trains on the tenant's utterances."""

    method = ChoiceField(choices=["head", "lora", "full"], default="head")
    epochs = serializers.IntegerField(default=60, min_value=1, max_value=300,
                                      help_text="head: epochs over cached embeddings (fast)")
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=512)
    learning_rate = serializers.FloatField(default=1e-2, min_value=1e-7, max_value=1.0)
    max_length = serializers.IntegerField(default=64, min_value=8, max_value=512)
    early_stopping_patience = serializers.IntegerField(default=8, min_value=0, max_value=50)


class EmbedArticlesParams(serializers.Serializer):
    """Embeds every article whose text changed since it was last embedded (or ``all``)."""

    all = serializers.BooleanField(default=False, help_text="Embed every article again")


class ClassifyBacklogParams(serializers.Serializer):
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)
