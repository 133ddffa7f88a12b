"""What billing measures in the tables of the layers above it, through functions they register.

Billing sits below jobs (a job submission checks its quota with billing, a finished job records
its usage there), so it cannot read the job tables itself. Two measures come from above:

- **stored bytes**: what the tenant stores (jobs: datasets and model artefacts); storage
  snapshots and the storage quota check add the sources up;
- **reserved items**: items promised but not recorded yet (jobs: unfinished inference jobs);
  the job quota check counts them as used, so that concurrent submissions cannot together
  pass the limit.

A measure reads the tenant in context, and the quota checks call it under the subscription's
lock, so it sees what earlier holders of the lock committed. Apps register in their
``AppConfig.ready()`` (``jobs.apps.JobsConfig``); a function registered twice counts once.
"""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[], int]

_stored_bytes: dict[str, Measure] = {}
_reserved_items: dict[str, Measure] = {}


def _name(measure: Measure) -> str:
    return f"{measure.__module__}.{measure.__qualname__}"


def stored_bytes_source_register(measure: Measure) -> None:
    """Count ``measure()`` (bytes the tenant in context stores) in its storage."""
    _stored_bytes[_name(measure)] = measure


def reserved_items_source_register(measure: Measure) -> None:
    """Count ``measure()`` (items the tenant in context was promised, not yet recorded) as
    used by the items quota check."""
    _reserved_items[_name(measure)] = measure


def stored_bytes() -> int:
    return sum(measure() for measure in _stored_bytes.values())


def reserved_items() -> int:
    return sum(measure() for measure in _reserved_items.values())
