"""Content-Security-Policy for every response (django-csp's middleware, two policies).

- Pages (``settings.CONTENT_SECURITY_POLICY``): scripts and styles only from our own
  origin, plus the per-request nonce on the few inline ``<style>``/``<script>`` elements
  (``nonce="{{ request.csp_nonce }}"``); inline event handlers and ``eval`` are refused.
  Inline ``style=""`` attributes stay allowed (``style-src-attr``): bars and meters size
  themselves with them, and an attribute cannot run code. No framing, forms post only here,
  no plugins.
- The API's docs page (Swagger UI) may also set inline styles: its bundle does.
- The API and the widget script: ``default-src 'none'``: a JSON answer or a script file needs
  nothing, so a response that a browser is tricked into rendering can do nothing either.
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONE, SELF
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

LOCKED_DOWN: dict[str, Any] = {"default-src": [NONE], "frame-ancestors": [NONE],
                               "base-uri": [NONE], "form-action": [NONE]}
# Paths whose responses are data or a script file, never a page: the locked-down policy.
# The API's interactive docs are a page (the Swagger UI) and keep the page policy.
_LOCKED_PREFIXES = ("/api/", "/bot/widget.js")
_PAGE_EXCEPTIONS = ("/api/v1/docs",)


class PlatformCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        path = request.path_info
        if report_only or parts.config is not None:
            return parts
        if path.startswith(_PAGE_EXCEPTIONS):
            # Swagger UI sets styles from its script (no nonce possible there); its scripts
            # still come only from here. A nonce in the list would disable 'unsafe-inline'.
            parts.replace = {**(parts.replace or {}), "style-src": [SELF, "'unsafe-inline'"]}
        elif path.startswith(_LOCKED_PREFIXES):
            parts.config = dict(LOCKED_DOWN)
        return parts
