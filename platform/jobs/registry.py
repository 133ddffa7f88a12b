"""What each vertical application tells the job pipeline: its dataset schemas and job kinds.

An application describes *what* (columns, labels, parameter validation, where results go);
``workers/`` knows *how* (fine-tune, classify, embed). Handlers are named by
``"module:function"`` strings and imported only on worker nodes, so the web tier never loads
torch. Applications register in their ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "str"  # str | int | float | datetime | label
    required: bool = True
    max_length: int | None = None


@dataclass(frozen=True)
class DatasetSchema:
    purpose: str
    columns: tuple[Column, ...]
    description: str = ""
    # Allowed values of the ``label`` column (None: any non-empty string).
    labels: tuple[str, ...] | None = None
    # Optional normalisation of incoming labels, e.g. {"0": "negative"}.
    label_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: str  # "workers.handlers.module:function", resolved on workers only
    params: type[serializers.Serializer]
    dataset_purposes: tuple[str, ...] = ()  # empty: no dataset; else one of these is required
    dataset_required: bool = True
    queue: str = "gpu"
    needs_model_version: bool = False
    description: str = ""
    # What ``items_done`` / ``items_total`` count, as the pages and the API name it: "rows"
    # of a dataset, "epochs" of a fine-tune, "documents", ...
    progress_unit: str = "rows"
    # Dotted path of a check called by ``job_submit`` with the validated parameters before
    # anything is created: it raises a ``ServiceError`` saying why the job could do nothing
    # (a recommender with no events to learn from), so no job is queued to fail.
    precondition: str | None = None


@dataclass(frozen=True)
class AppSpec:
    label: str
    name: str
    datasets: dict[str, DatasetSchema]
    job_kinds: dict[str, JobKind]
    # Labels of the app's classifier in a stable order (None for non-classifier apps).
    labels: tuple[str, ...] | None = None
    # Called after a fine-tune's version is stored, e.g. to warm caches (optional).
    on_version_created: Callable[[Any], None] | None = None
    # Dotted path of a function that seeds the demo tenant's data for ``make run`` (called in
    # the tenant's context; returns how many objects it created, 0 when already seeded).
    demo_seed: str | None = None


_apps: dict[str, AppSpec] = {}


class UnknownApp(LookupError):
    pass


def register_app(spec: AppSpec) -> None:
    _apps[spec.label] = spec


def get_app(label: str) -> AppSpec:
    try:
        return _apps[label]
    except KeyError:
        raise UnknownApp(label) from None


def all_apps() -> list[AppSpec]:
    return sorted(_apps.values(), key=lambda spec: spec.name)
