"""Online workers load the platform default models as they start, and say when they are warm.

Without it the first real-time request after a start loaded the model itself (about ten
seconds on a CPU) and ran past the web tier's ``ONLINE_TIMEOUT_SECONDS``: a 503. Now a worker
that consumes the ``online`` queue loads every platform default model (installed under
``DEFAULT_MODELS_DIR`` or shipped, see ``config.default_models``) into its model cache once
it is ready, then keeps its warm key alive in Redis (``config.warmth``) until it stops;
``/readyz`` reports it.

The loading runs in a thread beside the consumer, so the worker answers pings and control
commands meanwhile; a task that arrives first waits on the same load (the model cache loads a
key once). Online workers run the threads pool, so the models loaded here are the ones their
tasks use. A default model that fails to load is logged and left out: the worker still
serves tenants' own versions, and says warm once the rest are loaded.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from config.default_models import default_model_apps
from config.warmth import WARM_REFRESH_SECONDS, worker_warm_clear, worker_warm_mark

logger = logging.getLogger(__name__)

WARMED_QUEUE = "online"
_stopping = threading.Event()
_hostname: str | None = None


def installed_default_apps() -> list[str]:
    """The apps that have a platform default model, installed or shipped
    (``config.default_models``)."""
    return default_model_apps()


def preload_default_models() -> list[str]:
    """Load each installed default model into this process's model cache; the apps loaded."""
    from workers.handlers.text_classification import default_classifier

    loaded = []
    for app in installed_default_apps():
        try:
            default_classifier(app)
        except Exception:  # one broken artefact must not keep the others cold
            logger.exception("could not preload the default model of %s", app)
        else:
            loaded.append(app)
    logger.info("default models preloaded", extra={"apps": loaded})
    return loaded


def keep_warm(*, hostname: str, stop: threading.Event) -> None:
    """Preload, then refresh the warm key until ``stop`` is set."""
    preload_default_models()
    while not stop.is_set():
        try:
            worker_warm_mark(queue=WARMED_QUEUE, hostname=hostname)
        except Exception:  # Redis away for a moment: the key expires, readiness says cold
            logger.warning("could not refresh the warm key", exc_info=True)
        stop.wait(WARM_REFRESH_SECONDS)


def _consumed_queues(consumer: Any) -> set[str]:
    return set(consumer.app.amqp.queues.consume_from or ())


@worker_ready.connect
def _warm_up_online_workers(sender: Any = None, **_: Any) -> threading.Thread | None:
    global _hostname
    if sender is None or WARMED_QUEUE not in _consumed_queues(sender):
        return None
    _hostname = sender.hostname
    _stopping.clear()
    thread = threading.Thread(target=keep_warm, name="warm-up", daemon=True,
                              kwargs={"hostname": _hostname, "stop": _stopping})
    thread.start()
    return thread


@worker_shutdown.connect
def _cold_on_shutdown(sender: Any = None, **_: Any) -> None:
    _stopping.set()
    if _hostname is not None:
        try:
            worker_warm_clear(queue=WARMED_QUEUE, hostname=_hostname)
        except Exception:  # it expires by itself
            logger.warning("could not clear the warm key", exc_info=True)
