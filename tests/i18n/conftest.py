from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """A request leaves its language active in the thread (LocaleMiddleware sets it per
    request and never resets it): tests after these must not inherit Chinese."""
    yield
    translation.activate("en")
