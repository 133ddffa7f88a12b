"""The browser walk (issue #20, item 7): every page reachable from the navigation loads in
Chromium with status 200, no console error, no page error, no failed request and no
sub-resource (CSS, JS, images, htmx fragments) answering 400 or more: for each role of a
workspace filled with a little of everything, for the staff console, in English and in
Simplified Chinese.

The crawl starts at the overview, follows every link inside a ``<nav>`` or the top bar
(sidebar, tabs) transitively, and from each of those pages follows the other links one level
deeper (list to detail). One page per Django URL name is enough (``resolve``), which keeps
the walk short; sign-out, downloads and anything outside the site are not followed. A page
the role may not open must not be linked in its navigation: a 403 is a failure like a 500.
Problems are collected across the walk and reported together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    sync_playwright,
)

from accounts.models import User
from accounts.services import invitation_create
from apps.finance_sentiment.services import alert_rule_create, alert_rules_evaluate, feed_create
from apps.support_bot import services as bot
from billing.models import Meter, Plan, PlanMeter
from billing.plans import install_default_plans
from billing.selectors import plan_limits_forget
from billing.services import invoice_build, subscription_current, usage_record_many
from jobs.models import Job
from jobs.services import job_event_add, model_version_create
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import add_article, add_intent, answer, start
from tests.browser.conftest import CHROMIUM
from tests.conftest import TenantSetup, make_tenant
from tests.factories import PASSWORD
from tests.finance.conftest import doc, ingest, score, watch
from tests.jobs.conftest import labelled_dataset
from tests.recommendation.conftest import (
    add_events,
    add_items,
    item_row,
    precompute,
    set_embeddings,
)
from webhooks.services import webhook_emit, webhook_endpoint_create

LANGUAGES = ["en", "zh-hans"]
ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER]
# Links that are not pages to load: signing out, files, the widget's script.
NOT_PAGES = {"accounts:logout", "bot:widget_script", "api:schema"}
DOWNLOAD_WORDS = ("download", "csv", "export")
# The console's links that lead away from what the walk checks: forms that add or delete,
# history, the site's own pages.
CONSOLE_SKIPPED_SUFFIXES = ("_add", "_delete", "_history", ":logout", ":password_change",
                            ":view_on_site", ":jsi18n", ":autocomplete")
SETTLE_SECONDS = 5.0
# Pages of other projects, in English only, with no <html lang> of ours; the same for every
# role, so the walk opens them once.
THIRD_PARTY_PAGES = {"api:docs"}


# --- The browser: one for the module --------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    # calls; module-wide here, like the function-wide setting of ``tests/browser/conftest.py``.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()
            # See tests/browser/conftest.py: the connections opened while the loop ran are
            # closed before it stops.
            connections.close_all()


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


# --- The data: one workspace with some of everything ----------------------------------------


LABELS = ["negative", "neutral", "positive"]


def seed_workspace(setup: TenantSetup) -> None:
    """A dataset, jobs with events, a model version, a scored watchlist with a rule that has
    fired, a bot with intents, articles and conversations, a small catalogue with
    recommendations, a feed, an invitation, usage, a webhook endpoint with a delivery and an
    invoice (the API key comes with the tenant)."""
    now = timezone.now()
    dataset = labelled_dataset(setup)
    watch(setup, "ACME", "Acme Corp")
    watch(setup, "BETA", "Beta Industries")
    rows = [doc("ACME" if i % 3 else "BETA", now - timedelta(hours=i * 5),
                f"Acme and Beta story {i}", url=f"https://news.example.com/{i}")
            for i in range(24)]
    ids = ingest(setup, rows)
    score(setup, {pk: LABELS[i % 3] for i, pk in enumerate(ids)})
    add_intent(setup, "card_lost", "Sorry about your card, {{ user }}: we can block it.")
    handoff = add_intent(setup, "card_fraud", handoff=True)
    article = add_article(setup, "How do I reset my PIN?", "Open the app and choose PIN.", 0)
    answered = start(setup, external_user_id="customer-1")
    answer(setup, answered, "I lost my card", intent="card_lost", confidence=0.95)
    handed = start(setup, external_user_id="customer-2")
    answer(setup, handed, "someone used my card", intent="card_fraud", confidence=0.9)
    add_items(setup, [item_row("b1", "Dune", ["science-fiction"]),
                      item_row("b2", "Hyperion", ["science-fiction"]),
                      item_row("b3", "Emma", ["romance"])])
    set_embeddings(setup, {"b1": [1, 0], "b2": [0.9, 0.1], "b3": [0, 1]})
    add_events(setup, [("reader-7", "b1", "purchase"), ("reader-8", "b3", "view")])
    precompute(setup, {"reader-7": ["b2", "b3"]})
    with tenant_context(setup.tenant.pk):
        bot.utterance_create(intent=handoff, text="someone used my card without asking")
        bot.feedback_create(conversation=answered, rating="up")
        assert article.pk
        alert_rule_create(name="Negative share above 10%", kind="negative_share",
                          threshold=0.1, window_hours=24 * 7, min_volume=1)
        assert alert_rules_evaluate(now=now), "the rule should have fired"
        fine_tune = Job.objects.create(
            app="finance_sentiment", kind="fine_tune", status=Job.Status.SUCCEEDED,
            dataset=dataset, items_done=6, items_total=6, created_by=setup.owner,
            started_at=now - timedelta(minutes=5), finished_at=now,
            metrics={"macro_f1": 0.81})
        for kind, message, data in (("status", "running", {}),
                                    ("loss", "", {"step": 1, "loss": 0.9}),
                                    ("loss", "", {"step": 2, "loss": 0.6}),
                                    ("metrics", "", {"macro_f1": 0.81}),
                                    ("status", "succeeded", {})):
            job_event_add(job=fine_tune, kind=kind, message=message, data=data)
        model_version_create(job=fine_tune, label_map=LABELS, metrics={"macro_f1": 0.81},
                             artifact_name="artifact.zip", artifact=b"not a real model",
                             base_model="tiny", method="full")
        failed = Job.objects.create(app="finance_sentiment", kind="batch_inference",
                                    status=Job.Status.FAILED, dataset=dataset,
                                    error="Out of memory", finished_at=now)
        feed_create(url="http://127.0.0.1:9/feed.xml", name="Walk news", is_active=False)
        invitation_create(actor=setup.membership, email="invitee@example.com",
                          role=Role.MEMBER)
        usage_record_many(job_id=fine_tune.pk, key_prefix=f"job:{fine_tune.pk}", quantities={
            Meter.TRAINING_ACCELERATOR_SECONDS: 300, Meter.API_CALLS: 42})
        webhook_endpoint_create(url="http://127.0.0.1:9/walk", description="Walk endpoint",
                                events=["job.succeeded", "job.failed"])
        webhook_emit(event="job.failed", payload={"job": {"id": failed.pk}})
        period_end = subscription_current().period_start
        invoice_build(subscription=subscription_current(),
                      start=period_end - timedelta(days=30), end=period_end)


@pytest.fixture
def workspace(transactional_db: None, settings: Any) -> dict[str, User]:
    """The seeded workspace's members, one per role."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the endpoint and the feed are on loopback
    # A transactional test empties every table, the migrated plans included.
    install_default_plans(Plan, PlanMeter)
    plan_limits_forget()
    setup = make_tenant("acme")
    seed_workspace(setup)
    users = {Role.OWNER: setup.owner}
    for role in ROLES[1:]:
        users[role] = setup.add_member(role).user
    return users


# --- The walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    url: str
    who: str
    language: str
    what: str

    def __str__(self) -> str:
        return f"{self.url} [{self.who}, {self.language}]: {self.what}"


@dataclass
class Walker:
    """One signed-in browser context: visits pages and records what goes wrong on each."""

    page: Page
    base_url: str
    who: str
    language: str
    problems: list[Problem] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    links: list[tuple[str, bool]] = field(default_factory=list)  # of the page last visited
    # Requests in flight, with the page that made them.
    _pending: dict[Request, str] = field(default_factory=dict)
    _current: str = ""

    def __post_init__(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problem(f"page error: {error}"))
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", lambda request: self._pending.pop(request, None))
        self.page.on("requestfailed", self._on_failed)
        self.page.on("response", self._on_response)

    def problem(self, what: str, url: str | None = None) -> None:
        self.problems.append(Problem(url or self._current, self.who, self.language, what))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if (message.text.startswith("Failed to load resource")
                and urlsplit(message.location.get("url", "")).path == self._current):
            return  # the page's own status, which visit() reports
        self.problem(f"console error: {message.text}")

    def _on_request(self, request: Request) -> None:
        self._pending[request] = self._current

    def _on_failed(self, request: Request) -> None:
        page = self._pending.pop(request, self._current)
        if request.failure == "net::ERR_ABORTED":
            # The browser cancelled it: what a page was still loading when the walk went on
            # (its icon, fetched after load; the event may come once the next page started).
            # A server that fails shows as a status or a connection error instead.
            return
        self.problem(f"request failed: {request.method} {request.url} ({request.failure})",
                      url=page)

    def _on_response(self, response: Response) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            return  # the page itself: checked by visit()
        if response.status >= 400:
            self.problem(f"sub-resource {request.method} {response.url} answered "
                          f"{response.status}")

    def settle(self) -> None:
        """Wait for what the page loads after its ``load`` event (htmx fragments)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while self._pending and time.monotonic() < deadline:
            self.page.wait_for_timeout(20)

    def visit(self, path: str) -> bool:
        """Load ``path``; False when it is not a page (a download) or did not load."""
        self._current = path
        try:
            response = self.page.goto(self.base_url + path)
        except Error as error:
            if "Download is starting" in error.message:
                return False
            self.problem(f"did not load: {error.message.splitlines()[0]}")
            return False
        self.visited.append(path)
        if response is None:
            self.problem("no response")
            return False
        if response.status != 200:
            self.problem(f"HTTP {response.status}")
        final = urlsplit(self.page.url)
        if final.path != urlsplit(path).path:
            self.problem(f"redirected to {final.path}")
        if "attachment" in (response.headers.get("content-disposition") or ""):
            return False
        self.settle()
        html_lang, self.links = self._read_page()
        if url_name(path) not in THIRD_PARTY_PAGES:
            self._check_language(response, html_lang)
        return response.status == 200

    def _check_language(self, response: Response, html_lang: str) -> None:
        # LocaleMiddleware names the active language in Content-Language; without it the
        # active language is LANGUAGE_CODE. The layouts must say the same in <html lang>.
        active = response.headers.get("content-language") or settings.LANGUAGE_CODE
        if html_lang.lower() != active.lower():
            self.problem(f'<html lang="{html_lang}"> but the active language is {active}')
        if (self.language != "en" and locale_middleware_installed()
                and active.lower() != self.language):
            self.problem(f"asked for {self.language}, served {active}")

    def _read_page(self) -> tuple[str, list[tuple[str, bool]]]:
        """The page's ``<html lang>`` and its same-origin links (path with query, in the
        navigation?), in one round trip."""
        html_lang, found = self.page.evaluate(
            "() => [document.documentElement.lang, [...document.querySelectorAll('a[href]')]"
            ".map(e => [e.href, !!e.closest('nav, header.topbar, #nav-sidebar')])]")
        base = urlsplit(self.base_url)
        links = []
        for href, in_nav in found:
            parts = urlsplit(href)
            if parts.scheme not in ("http", "https") or parts.netloc != base.netloc:
                continue
            links.append((parts.path + (f"?{parts.query}" if parts.query else ""), in_nav))
        return html_lang, links


def locale_middleware_installed() -> bool:
    return "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE


def url_name(path: str) -> str | None:
    """The Django URL name of ``path`` (namespaced), or None when no pattern matches."""
    try:
        return resolve(urlsplit(path).path).view_name
    except Resolver404:
        return None


def is_page(name: str) -> bool:
    return name not in NOT_PAGES and not any(word in name for word in DOWNLOAD_WORDS)


def in_navigation(name: str, in_nav: bool) -> bool:
    return in_nav


def crawl(walker: Walker, start: str, *, follow: Any = is_page,
          navigation: Any = in_navigation, skip: frozenset[str] = frozenset()) -> None:
    """Breadth first from ``start``: navigation links (``navigation(name, in_nav)``)
    transitively, other links one level below a navigation page. One page per URL name;
    none of ``skip``."""
    seen: set[str] = set(skip)
    queue: list[tuple[str, bool]] = [(start, True)]
    while queue:
        path, is_navigation = queue.pop(0)
        name = url_name(path)
        if name is None:
            walker.problem("linked, but no URL pattern matches", url=path)
            continue
        if name in seen or not follow(name):
            continue
        seen.add(name)
        if not walker.visit(path) or not is_navigation:
            continue
        for link, in_nav in walker.links:
            queue.append((link, navigation(url_name(link) or "", in_nav)))


def new_walker(browser: Browser, base_url: str, who: str, language: str) -> Walker:
    context = browser.new_context(
        viewport={"width": 1280, "height": 860},
        locale="zh-CN" if language == "zh-hans" else "en-US",
        extra_http_headers={"Accept-Language": language},
    )
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language,
                          "url": base_url}])
    context.set_default_timeout(15_000)
    return Walker(page=context.new_page(), base_url=base_url, who=who, language=language)


def sign_in(walker: Walker, login_path: str, email: str, landing: str) -> None:
    """Through the real sign-in form, by its field names (the labels get translated)."""
    walker.visit(login_path)
    walker.page.locator('input[name="username"]').fill(email)
    walker.page.locator('input[name="password"]').fill(PASSWORD)
    # The form with the password: the top bar has forms of its own (the language menu).
    walker.page.locator('form:has(input[name="password"]) [type="submit"]').click()
    walker.page.wait_for_url(walker.base_url + landing)


def report(problems: list[Problem], started: float, pages: int) -> str:
    lines = [str(problem) for problem in problems]
    return (f"{len(problems)} problems on the walk ({pages} pages in "
            f"{time.monotonic() - started:.0f} s):\n" + "\n".join(lines))


def console_follow(name: str) -> bool:
    return name.startswith("admin:") and not name.endswith(CONSOLE_SKIPPED_SUFFIXES)


def console_navigation(name: str, in_nav: bool) -> bool:
    """The console's index leads to the apps' and models' lists; their rows are below."""
    return name in ("admin:index", "admin:app_list") or name.endswith("_changelist")


def walk_workspace(browser: Browser, base_url: str, role: str, email: str, language: str,
                   *, skip: frozenset[str]) -> Walker:
    walker = new_walker(browser, base_url, role, language)
    try:
        sign_in(walker, reverse("accounts:login"), email, reverse("dashboard:home"))
        crawl(walker, reverse("dashboard:home"), skip=skip)
    finally:
        walker.page.context.close()
    # Each role sees its own set: fewer pages for fewer rights, never a handful.
    assert len(walker.visited) >= 20, (role, walker.visited)
    return walker


def walk_console(browser: Browser, base_url: str, email: str, language: str) -> Walker:
    """The index, every model's list, one change page per model that has rows, the tenant
    health page and the other pages the lists link to."""
    walker = new_walker(browser, base_url, "staff", language)
    try:
        sign_in(walker, reverse("admin:login"), email, reverse("admin:index"))
        crawl(walker, reverse("admin:index"), follow=console_follow,
              navigation=console_navigation)
    finally:
        walker.page.context.close()
    names = {url_name(path) for path in walker.visited}
    assert {"admin:tenancy_tenant_health", "admin:jobs_job_change",
            "admin:support_bot_conversation_change"} <= names, sorted(map(str, names))
    return walker


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_walk(live_server: Any, browser: Browser, workspace: dict[str, User],
              language: str) -> None:
    """Each role's workspace, then the staff console; every problem reported at the end."""
    started = time.monotonic()
    walkers = [
        walk_workspace(browser, live_server.url, str(role), user.email, language,
                       # The same for every role: the first walks them.
                       skip=frozenset(THIRD_PARTY_PAGES) if index else frozenset())
        for index, (role, user) in enumerate(workspace.items())
    ]
    staff = User.objects.create_superuser("staff@example.com", PASSWORD)
    walkers.append(walk_console(browser, live_server.url, staff.email, language))
    problems = [problem for walker in walkers for problem in walker.problems]
    pages = sum(len(walker.visited) for walker in walkers)
    print(f"\nwalk [{language}]: {pages} pages in {time.monotonic() - started:.1f} s")
    assert not problems, report(problems, started, pages)
