"""Gunicorn's settings for the web process (``gunicorn -c python:config.gunicorn config.wsgi``),
from the environment, so that ``make run`` serves pages as production does.

``HOST``/``PORT`` (default 127.0.0.1:8000), or ``GUNICORN_BIND`` to give the address whole;
``WEB_CONCURRENCY`` processes (default 2), each with ``GUNICORN_THREADS`` threads (default 4):
threads because a real-time request mostly waits on the online worker (up to
``ONLINE_TIMEOUT_SECONDS``) and a thread costs far less memory than a process. Static files are
served by WhiteNoise inside Django; there is no media route.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND") or (
    f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than ONLINE_TIMEOUT_SECONDS (10 s) and an upload's parse; as the Kubernetes web pods.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Heartbeat files in memory, not on a possibly slow disk (gunicorn's own advice for containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# The platform writes its own access log line per request (config.logging), with the request
# and tenant ids; gunicorn's would repeat it without them.
accesslog = None
errorlog = "-"
# The proxies whose X-Forwarded-Proto gunicorn believes: the same list Django believes for the
# client address (config.clientaddr); gunicorn's default (loopback) otherwise.
if os.environ.get("TRUSTED_PROXIES"):
    forwarded_allow_ips = os.environ["TRUSTED_PROXIES"]
