"""The deployment tests read files and run linters: no database, no Redis.

Overrides the suite-wide autouse fixture of tests/conftest.py (which flushes the test Redis
after every test) so that these tests run, and pass, without any service.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords_and_clean_redis() -> None:
    return None
