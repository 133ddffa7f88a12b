"""In a real browser: sign up, verify the address from the email's link, and follow the bot's
getting-started checklist on the overview to a first trained model (a real worker trains the
intent head on the shipped MiniLM), each step ticking as the data appears."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import User
from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tests.bot.test_end_to_end import utterances
from tests.conftest import WorkerFactory, wait_until
from tests.workers.conftest import to_csv

PASSWORD = "lantern-quarry-mosaic-41"  # noqa: S105
SCREENSHOT = "/tmp/signup-checklist.png"  # noqa: S108  (a fixed path, to look at)


def _step(page, key: str):  # noqa: ANN001, ANN202
    return page.get_by_test_id(f"step-support_bot-{key}")


@pytest.mark.browser
@pytest.mark.slow
def test_sign_up_verify_and_train_a_first_model_from_the_checklist(
        transactional_db: None, live_server, page, tmp_path: Path,  # noqa: ANN001
        workers: WorkerFactory) -> None:
    workers.start(MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"))
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_role("link", name="Create a workspace").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_label("Workspace name").fill("Analytical Engines")
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    expect(page.get_by_role("heading", name="Analytical Engines")).to_be_visible()
    expect(page.get_by_test_id("verify-banner")).to_be_visible()
    for key in ("load", "train", "try", "integrate"):
        expect(_step(page, key)).to_have_attribute("data-done", "false")

    # The verification email's link (the console backend prints it; tests collect it).
    [message] = wait_until("the verification email", lambda: list(mail.outbox), timeout=10)
    link = re.search(r"https?://\S+/accounts/verify/\S+", message.body)
    assert link, message.body
    page.goto(link.group(0))
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    expect(page.get_by_text("ada@example.com is verified")).to_be_visible()
    expect(page.get_by_test_id("verify-banner")).to_have_count(0)

    # Step 1: load data, from the checklist's link.
    _step(page, "load").get_by_role("link").click()
    csv = tmp_path / "utterances.csv"
    csv.write_bytes(to_csv(utterances(120), "text,intent"))
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("120 utterances imported")).to_be_visible()
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(_step(page, "load")).to_have_attribute("data-done", "true")
    expect(_step(page, "train")).to_have_attribute("data-done", "false")

    # Step 2: train, and watch the job finish on its page.
    _step(page, "train").get_by_role("link").click()
    page.get_by_role("button", name="Train the intent model").click()
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=240_000)
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(_step(page, "train")).to_have_attribute("data-done", "true")
    expect(page.get_by_test_id("app-support_bot").get_by_test_id("steps-done")).to_have_text(
        "2 of 4 steps done")
    expect(_step(page, "integrate")).to_contain_text("/api/v1/bot/conversations")
    page.screenshot(path=SCREENSHOT, full_page=True)

    user = User.objects.get(email="ada@example.com")
    assert user.email_verified_at is not None
    tenant = Tenant.objects.get(slug="analytical-engines")
    with tenant_context(tenant.pk):
        version = ModelVersion.objects.get(app="support_bot")
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.method == "head"
