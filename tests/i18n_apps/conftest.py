from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _language_reset() -> Iterator[None]:
    """LocaleMiddleware activates the request's language in the thread and leaves it there
    (a server activates the next request's); the test client's thread runs the next tests,
    which must not inherit Chinese."""
    yield
    translation.deactivate()
