"""The chat and recommendation endpoints are metered (``chat_messages``,
``recommendation_requests``): over the plan's hard limit they answer 402 in the platform's
error format and store nothing; a chat message the bot could not answer is not billed."""

from __future__ import annotations

from typing import Any

from apps.support_bot.models import Message
from billing.models import Meter
from tenancy.context import tenant_context
from tests.billing.conftest import set_terms
from tests.bot.conftest import start
from tests.conftest import TenantSetup

BOT = "/api/v1/bot"


def _quota_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    return error


def test_chat_over_the_limit_is_402_and_the_message_is_not_stored(acme: TenantSetup) -> None:
    set_terms("free", Meter.CHAT_MESSAGES, hard_limit=0)
    conversation = start(acme)

    response = acme.api().post(f"{BOT}/conversations/{conversation.pk}/messages",
                               {"text": "Where is my card?"}, format="json")

    error = _quota_error(response)
    assert (error["meter"], error["limit"]) == ("chat_messages", "0")
    with tenant_context(acme.tenant.pk):
        assert not Message.objects.exists()


def test_a_message_no_worker_answered_is_kept_but_not_billed(acme: TenantSetup,
                                                             settings: Any) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.3
    set_terms("free", Meter.CHAT_MESSAGES, hard_limit=1)
    conversation = start(acme)
    url = f"{BOT}/conversations/{conversation.pk}/messages"

    # Were the first one billed, the second would be over the limit of one.
    assert acme.api().post(url, {"text": "Where is my card?"}, format="json").status_code == 503
    assert acme.api().post(url, {"text": "Still waiting"}, format="json").status_code == 503
    with tenant_context(acme.tenant.pk):
        assert Message.objects.count() == 2


def test_recommendation_requests_over_the_limit_are_402(acme: TenantSetup) -> None:
    set_terms("free", Meter.RECOMMENDATION_REQUESTS, hard_limit=2)
    api = acme.api()
    assert api.get("/api/v1/recommendations/users/reader-1").status_code == 200
    assert api.get("/api/v1/recommendations/users/reader-2").status_code == 200

    error = _quota_error(api.get("/api/v1/recommendations/users/reader-3"))
    assert (error["meter"], error["used"], error["limit"]) == ("recommendation_requests",
                                                               "2", "2")
    rerank = api.post("/api/v1/recommendations/rerank", {"user": "reader-1", "items": ["x"]},
                      format="json")
    # Unknown candidates are bad input (400) before anything is metered.
    assert rerank.status_code == 400
