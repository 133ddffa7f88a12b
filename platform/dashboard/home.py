"""The applications' parts of the overview page: live figures and a getting-started checklist.

The dashboard sits below the applications (and below ``jobs``, whose ``AppSpec`` they declare
themselves with), so it cannot ask them; each application registers the function that
summarises it with ``home_section_register`` in its ``AppConfig.ready()``, as billing registers
its tenant-created hook with tenancy. The overview calls every registered function in the
current tenant's context; each reads its own selectors, so the page never imports an app.

A step is ticked from what the tenant's data shows (utterances imported, a model active,
a conversation held through the API...), never from a flag that the user sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    key: str  # stable, for tests and the page's data-testid


@dataclass(frozen=True)
class Step:
    key: str  # "load" | "train" | "try" | "integrate"
    title: str
    text: str
    done: bool
    url: str
    snippet: str = ""  # shown under the step (the API call that integrates the app)
    # The role that may open ``url`` ("" for every role): below it the step is not a link.
    minimum_role: str = ""


@dataclass(frozen=True)
class AppHome:
    label: str
    name: str
    description: str
    url: str
    figures: tuple[Figure, ...]
    steps: tuple[Step, ...]

    @property
    def steps_done(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def set_up(self) -> bool:
        """Every step done: the checklist gives way to the figures alone."""
        return self.steps_done == len(self.steps)


# ``summary(base_url=...)``: ``base_url`` is the site's address, for the API snippets.
HomeSummary = Callable[..., AppHome]
_sections: dict[str, HomeSummary] = {}


def home_section_register(label: str, summary: HomeSummary) -> None:
    """Show ``summary``'s figures and checklist on the overview (once per app label)."""
    _sections[label] = summary


def home_sections(*, base_url: str) -> list[AppHome]:
    """Every registered application's summary for the current tenant, by name."""
    return sorted((summary(base_url=base_url) for summary in _sections.values()),
                  key=lambda section: section.name)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"
