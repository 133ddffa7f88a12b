"""``make run`` behaves like production: DEBUG off unless asked for, gunicorn serving pages
whose CSS and JS come from WhiteNoise's manifest storage, over plain http on this machine;
``make dev`` (DEBUG=1) is Django's development server."""

from __future__ import annotations

import importlib
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from console.management.commands.runlocal import (
    child_env,
    web_command,
)


def _settings_in_subprocess(env: dict[str, str], *names: str) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], env={
        **env, "DJANGO_SETTINGS_MODULE": "config.settings"}, capture_output=True, text=True,
        check=True, cwd=settings.BASE_DIR)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_debug_is_off_unless_asked_for(subprocess_env: dict[str, str]) -> None:
    unset = {key: value for key, value in subprocess_env.items() if key != "DEBUG"}
    production = _settings_in_subprocess(unset, "DEBUG", "SESSION_COOKIE_SECURE")
    assert production == {"DEBUG": False, "SESSION_COOKIE_SECURE": True}
    assert _settings_in_subprocess({**unset, "DEBUG": "1"}, "DEBUG") == {"DEBUG": True}


def test_the_web_process_is_gunicorn_unless_debug() -> None:
    production = web_command(debug=False, host="127.0.0.1", port=8123)
    assert production[1:3] == ["-m", "gunicorn"]
    assert ["-c", "python:config.gunicorn"] == production[3:5]
    assert "127.0.0.1:8123" in production
    assert production[-1] == "config.wsgi:application"
    development = web_command(debug=True, host="127.0.0.1", port=8123)
    assert development[-2:] == ["runserver", "127.0.0.1:8123"]


def test_children_get_the_mode_and_local_http_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECURE_COOKIES", raising=False)
    monkeypatch.setenv("SECURE_SSL_REDIRECT", "1")  # set explicitly: the environment wins
    env = child_env(debug=False, database_url="postgresql://db", redis_url="redis://r")
    assert env["DEBUG"] == "0"
    assert env["SECURE_COOKIES"] == "0"
    assert env["SECURE_HSTS_SECONDS"] == "0"
    assert env["SECURE_SSL_REDIRECT"] == "1"
    assert env["PYTHONPATH"].split(":")[:2] == [str(settings.BASE_DIR / "platform"),
                                                 str(settings.BASE_DIR)]
    assert child_env(debug=True, database_url="", redis_url="")["DEBUG"] == "1"


def test_gunicorn_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import config.gunicorn

    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    try:
        conf = importlib.reload(config.gunicorn)
        assert (conf.bind, conf.workers, conf.threads) == ("0.0.0.0:9000", 3, 8)
        monkeypatch.setenv("GUNICORN_BIND", "unix:/tmp/web.sock")
        assert importlib.reload(config.gunicorn).bind == "unix:/tmp/web.sock"
    finally:
        monkeypatch.undo()
        importlib.reload(config.gunicorn)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_make_run_serves_pages_with_their_css_and_js_through_gunicorn(
    db: None, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """The production path end to end: collectstatic into manifest storage, then the very
    web command and environment runlocal uses, over http://127.0.0.1."""
    port = _free_port()
    env = child_env(debug=False, database_url=subprocess_env["DATABASE_URL"],
                    redis_url=subprocess_env["REDIS_URL"])
    env.update(STATIC_ROOT=str(tmp_path / "static"), WEB_CONCURRENCY="1",
               GUNICORN_THREADS="2")
    subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "collectstatic",
                    "--noinput", "-v0"], env=env, check=True, cwd=settings.BASE_DIR)
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # the manifest
    web = subprocess.Popen(web_command(debug=False, host="127.0.0.1", port=port),  # noqa: S603
                           env=env, cwd=settings.BASE_DIR)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, page = _get(f"{base}/accounts/login/")
                break
            except OSError:
                assert web.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.25)
        assert status == 200
        # Plain http works: the CSRF cookie a sign-in needs is not secure-only.
        assert "csrftoken=" in headers.get("Set-Cookie", "")
        assert "secure" not in headers["Set-Cookie"].lower()
        assets = re.findall(rb'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page)
        assert any(asset.endswith(b".css") for asset in assets), page[:500]
        for asset in assets:
            # Manifest names (app.<hash>.css), served by WhiteNoise with a far-future cache.
            assert re.search(rb"\.[0-9a-f]{12}\.(css|js)$", asset), asset
            status, headers, body = _get(base + asset.decode())
            assert status == 200, asset
            assert body
            assert "max-age=315360000" in headers.get("Cache-Control", ""), asset
        status, headers, body = _get(f"{base}/api/v1/no-such-thing")
        assert status == 404
        assert json.loads(body)["error"]["request_id"] == headers["X-Request-ID"]
    finally:
        web.terminate()
        web.wait(timeout=30)
