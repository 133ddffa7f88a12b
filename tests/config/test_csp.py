"""Content-Security-Policy: pages allow only our scripts and styles plus the request's nonce;
the API and the widget script allow nothing."""

from __future__ import annotations

import re

import pytest

from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (item.strip() for item in header.split(";")) if part}


def test_pages_have_a_policy_whose_nonce_marks_the_inline_style(acme: TenantSetup) -> None:
    client = acme.browser()
    response = client.get("/bot/try/")
    assert response.status_code == 200
    policy = _policy(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    [nonce] = re.findall(r"'nonce-([^']+)'", policy["script-src"])
    assert f"'nonce-{nonce}'" in policy["style-src"]
    html = response.content.decode()
    assert f'<style nonce="{nonce}">' in html
    assert re.search(r"\son[a-z]+=\"", html) is None  # no inline event handlers
    # A new nonce for every response.
    assert _policy(client.get("/bot/try/"))["script-src"] != policy["script-src"]


def test_the_sign_in_page_has_the_policy_too(client) -> None:
    policy = _policy(client.get("/accounts/login/"))
    assert policy["default-src"] == "'self'"


def test_api_answers_and_the_widget_script_are_locked_down(acme: TenantSetup, client) -> None:
    for response in (acme.api().get("/api/v1/me"), client.get("/api/v1/does-not-exist"),
                     client.get("/bot/widget.js")):
        policy = _policy(response)
        assert policy["default-src"] == "'none'", response.request["PATH_INFO"]
        assert policy["frame-ancestors"] == "'none'"


def test_the_api_docs_page_loads_its_script_from_a_url(client) -> None:
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    html = response.content.decode()
    assert re.search(r"<script>\s*\S", html) is None  # no inline script body
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
