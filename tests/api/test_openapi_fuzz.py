"""Schemathesis over the whole OpenAPI schema, in-process against the WSGI application and
the real PostgreSQL and Redis, authenticated with a seeded tenant's API key.

Every operation gets ``FUZZ_EXAMPLES`` generated requests (valid and invalid ones) from a
fixed seed; each response is checked for server errors, for conformance to the schema the
API publishes (body and content type) and for a status code the operation documents. The
test passes only with no failure at all. ``make fuzz`` runs the same test deeper
(``FUZZ_EXAMPLES=50``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError, close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, seed, strategies
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.finance_sentiment.models import Document
from apps.recommendation.models import EndUser, Item
from apps.support_bot import services as bot_services
from apps.support_bot.models import Article, Conversation, Intent, Message, Utterance
from jobs.models import Job, Prediction
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20240101"))
# Server errors are checked below: a 502 or 503 an operation documents (no inference worker
# runs here) is its truthful answer; a 500 never is.
CHECKS = [response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    # Requests run inside the test's transaction: Django must not close the connection at the
    # start and end of each one (its test client disconnects the same handlers).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _api_schema(app: Any) -> Any:
    document = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig()
    config.projects.default.generation.update(max_examples=FUZZ_EXAMPLES)
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.app = app
    return schema


def _seed(tenant_id: int) -> None:
    """A few objects of each kind, so that lists and details answer with real rows (blank
    optional fields included) for the schema conformance check to read."""
    with tenant_context(tenant_id):
        for number in range(1, 3):
            Document.objects.create(source="api", external_id=f"d{number}", title="No link",
                                    published_at="2024-01-01T00:00Z")
            Item.objects.create(external_id=str(number), title=f"Item {number}")
            EndUser.objects.create(external_id=str(number))
            intent = Intent.objects.create(name=f"intent_{number}")
            Utterance.objects.create(intent=intent, text=f"utterance {number}")
            Article.objects.create(question=f"Question {number}?", answer="Answer.")
            conversation = bot_services.conversation_start(channel=Conversation.Channel.API)
            Message.objects.create(conversation=conversation, role=Message.Role.USER,
                                   text="hello")
            job = Job.objects.create(app="finance_sentiment", kind="batch_inference", params={})
            Prediction.objects.create(job=job, tenant_id=tenant_id, item=1, label="positive",
                                      confidence=0.9, probabilities={"positive": 0.9})


def _fuzz(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """``FUZZ_EXAMPLES`` requests to ``operation``, valid and invalid; what fails goes to
    ``failures``."""
    cases = strategies.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE))

    @seed(FUZZ_SEED)
    @hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case: Any) -> None:
        try:
            with transaction.atomic():  # a failed statement must not end the test's transaction
                response = case.call(headers=headers)
        except DatabaseError as error:
            failures.append(f"{operation.label}: database error {error!r}\n"
                            f"{case.as_curl_command()}")
            return
        documented = operation.definition.raw["responses"]
        if response.status_code == 500 or (response.status_code > 500
                                           and str(response.status_code) not in documented):
            failures.append(f"{operation.label}: server error {response.status_code}\n"
                            f"{case.as_curl_command()}")
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            failures.extend(f"{operation.label}: {failure.title}: {failure.message}\n"
                            f"{case.as_curl_command()}" for failure in group.exceptions)

    check()


def test_every_operation_conforms_to_the_schema(acme: TenantSetup, wsgi_app: Any,
                                                settings: Any) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.1  # no online worker runs: its 503, but sooner
    api_key = acme.api_key
    api_key.rate_limit_per_minute = 1_000_000
    with tenant_context(acme.tenant.pk):
        api_key.save(update_fields=["rate_limit_per_minute"])
    _seed(acme.tenant.pk)
    headers = {"Authorization": f"Bearer {acme.raw_key}"}
    failures: list[str] = []
    operations = 0
    for result in _api_schema(wsgi_app).get_all_operations():
        _fuzz(result.ok(), headers, failures)
        operations += 1
    assert operations > 100
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:200])
