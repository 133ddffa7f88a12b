"""Customer-service bot: the chat endpoint under load, against the bare model call.

Starts the platform on this machine (embedded PostgreSQL and Redis under
``.data/bench-chat``, gunicorn, one Celery worker on the ``online`` queue started as ``make
run`` starts it: tasks in threads, concurrent messages micro-batched), seeds a tenant with
BANKING77 (77 intents, an answer article per intent, embedded), installs an intent model
(a head on the real all-MiniLM-L6-v2, trained here on a slice of the train file), then
20 concurrent clients each hold a conversation and send BANKING77 test utterances::

    python bench/bot_chat.py [--clients 20] [--messages 15]

Baseline: the bare model work of one message in-process (intent classification plus the
query embedding, one message at a time). Two more readings: the same bare work driven in-process
by the same 20 clients (``bot.chat_p95_ratio_vs_bare_same_load``: what the stack adds under
one load), and a paced round where each client pauses between messages (mean ``--think-ms``,
exponential) so that the stack is not saturated (``bot.chat_paced_p95_ms``,
``bot.chat_paced_p95_ratio_vs_bare``). Records ``bot.chat_p50_ms``, ``bot.chat_p95_ms``,
``bot.chat_p99_ms``, ``bot.chat_messages_per_second`` and ``bot.chat_p95_ratio_vs_bare``
(goal ≤ 3), and prints the CPU milliseconds per message of each part of the stack (web,
worker, PostgreSQL, Redis, the client threads) over the loaded phase.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "platform"), str(REPO)]
os.environ.setdefault("AIPLATFORM_DATA_DIR", str(REPO / ".data" / "bench-chat"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("AIPLATFORM_TORCH_THREADS", "1")

from common import DATASETS, read_csv, record  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def setup_tenant(folder: Path) -> tuple[str, Any]:
    """A new tenant with the BANKING77 bot, its articles embedded and an active intent model;
    returns its API key and the in-process classifier (for the baseline)."""
    from django.core.management import call_command

    from accounts.models import User
    from accounts.services import api_key_create
    from apps.support_bot import services
    from apps.support_bot.models import Article
    from apps.support_bot.text import text_hash
    from jobs.models import Job
    from jobs.services import model_version_create
    from tenancy.context import tenant_context
    from tenancy.services import tenant_create
    from workers.handlers.text_classification import _zip_dir
    from workers.runtime import FineTuneConfig, embed, fine_tune_classifier

    call_command("migrate", interactive=False, verbosity=0)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    owner = User.objects.create_user(f"owner@{slug}.example.com", uuid.uuid4().hex)
    tenant = tenant_create(slug=slug, name=slug, owner_id=owner.pk)
    call_command("seed_bot_demo", tenant=slug, stdout=open(os.devnull, "w"))  # noqa: SIM115
    labels = json.loads((DATASETS / "banking77" / "categories.json")
                        .read_text())
    per_label: dict[str, int] = {}
    texts, targets = [], []
    for row in read_csv("banking77/train.csv"):
        if per_label.get(row["category"], 0) < 30:
            per_label[row["category"]] = per_label.get(row["category"], 0) + 1
            texts.append(row["text"])
            targets.append(row["category"])
    result = fine_tune_classifier(texts, targets, FineTuneConfig(
        output_dir=folder / "artifact", label_names=labels, method="head", epochs=60,
        max_length=64, early_stopping_patience=8, seed=0))
    with tenant_context(tenant.pk):
        articles = list(Article.objects.order_by("id"))
        vectors = [v for _, block in embed([a.embedding_text for a in articles]) for v in block]
        services.article_embeddings_record(embeddings=[
            (a.pk, text_hash(a.embedding_text), v.tolist())
            for a, v in zip(articles, vectors, strict=True)])
        job = Job.objects.create(app="support_bot", kind="fine_tune", status="succeeded")
        model_version_create(job=job, label_map=labels, metrics=result.metrics,
                             artifact_name="artifact.zip", artifact=_zip_dir(folder / "artifact"),
                             base_model="all-MiniLM-L6-v2", method="head")
        # Every message gets a bot reply (an article at worst): a handed-off conversation
        # gets none, and would measure nothing but the web tier.
        services.bot_settings_update(changes={"intent_threshold": 0.5,
                                              "article_threshold": 0.0})
        raw_key = api_key_create(name="bench", scopes=["read", "write"],
                                 created_by_id=owner.pk).raw_key
    print(f"tenant {slug}: intent model validation accuracy "
          f"{result.metrics.get('accuracy', float('nan')):.3f}", flush=True)
    return raw_key, result.classifier


def client_text(texts: list[str], number: int, index: int, messages: int) -> str:
    """The ``index``-th message of client ``number`` (the chat and bare loads send alike)."""
    return texts[(number * messages + index * 7) % len(texts)]


def run_clients(count: int, client: Callable[[int], None]) -> float:
    """Run ``client(0)`` ... ``client(count - 1)`` in threads at once; the seconds they took."""
    threads = [threading.Thread(target=client, args=(n,)) for n in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def bare_call(classifier: Any, text: str) -> float:
    """Milliseconds of the bare model work of one message: its intent and its query vector."""
    from workers.runtime import embed

    started = time.perf_counter()
    list(classifier.classify([text]))
    list(embed([text]))
    return (time.perf_counter() - started) * 1000


def bare_latencies(classifier: Any, texts: list[str]) -> list[float]:
    for text in texts[:5]:  # warm-up
        bare_call(classifier, text)
    return [bare_call(classifier, text) for text in texts]


def bare_under_load(classifier: Any, texts: list[str], clients: int, messages: int
                    ) -> tuple[list[float], float]:
    """The same bare model work driven as the chat endpoint is: ``clients`` threads in this
    process, each sending its ``messages`` one after another (no batching). Returns the
    latencies (ms) and the seconds the whole load took."""
    latencies: list[float] = []  # list.append is atomic: the threads share it unlocked

    def client(number: int) -> None:
        for index in range(messages):
            latencies.append(bare_call(classifier, client_text(texts, number, index, messages)))

    return latencies, run_clients(clients, client)


def post(url: str, key: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return dict(json.loads(response.read()))


COMPONENTS = (("web", "gunicorn"), ("worker", "celery"), ("postgres", "postgres"),
              ("redis", "redis-server"))


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of the processes of this benchmark's stack, by
    pid: ``(component, seconds)``. The stack is this process (the ``client``) and its
    children (gunicorn, Celery), and the embedded PostgreSQL and Redis under this run's data
    folder with their children (other sessions' servers on the machine are left out).
    Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    data_dir = os.environ["AIPLATFORM_DATA_DIR"]
    processes: dict[int, tuple[int, str, float]] = {}  # pid: (parent, command, seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        processes[int(entry.name)] = (int(fields[1]), command,
                                      (int(fields[11]) + int(fields[12])) / tick)
    roots = {os.getpid()} | {pid for pid, (_, command, _) in processes.items()
                             if data_dir in command}
    out: dict[int, tuple[str, float]] = {}
    for pid, (_parent, command, seconds) in processes.items():
        ancestor, depth = pid, 0
        while ancestor not in roots and ancestor in processes and depth < 20:
            ancestor, depth = processes[ancestor][0], depth + 1
        if ancestor not in roots:
            continue
        component = "client" if pid == os.getpid() else next(
            (name for name, marker in COMPONENTS if marker in command), None)
        if component is not None:
            out[pid] = (component, seconds)
    return out


def cpu_per_message(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                    messages: int) -> dict[str, float]:
    """Milliseconds of CPU per message by component between two ``cpu_seconds`` readings."""
    totals: dict[str, float] = {}
    for pid, (component, seconds) in after.items():
        spent = seconds - (before[pid][1] if pid in before else 0.0)
        totals[component] = totals.get(component, 0.0) + spent
    return {name: round(1000 * seconds / max(messages, 1), 2)
            for name, seconds in sorted(totals.items())}


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=15, help="per client")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--think-ms", type=float, default=1000,
                        help="the paced round: mean pause between a client's messages")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from console.management.commands.runlocal import ONLINE_WORKER_ARGS, _database_url

    questions = [row["text"] for row in read_csv("banking77/test.csv")]
    with tempfile.TemporaryDirectory() as folder:
        key, classifier = setup_tenant(Path(folder))
        bare = bare_latencies(classifier, questions[:200])
        bare_load, bare_load_seconds = bare_under_load(classifier, questions, args.clients,
                                                       args.messages)
    env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]),
           "REDIS_URL": settings.REDIS_URL, "PYTHONPATH": f"{REPO / 'platform'}:{REPO}",
           "ONLINE_TIMEOUT_SECONDS": "120", "API_DEFAULT_RATE_LIMIT_PER_MINUTE": "100000"}
    children = [
        # The online worker as `make run` and the deployments start it (threads, batching).
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker",  # noqa: S603
                          *ONLINE_WORKER_ARGS, "--loglevel=WARNING", "--without-mingle",
                          "--without-gossip"], env=env, cwd=REPO),
        subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application",  # noqa: S603
                          "--bind", f"127.0.0.1:{args.port}", "--workers", "2", "--threads",
                          str(max(4, args.clients // 2 + 2)), "--log-level", "warning"],
                         env=env, cwd=REPO),
    ]
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(f"{base}/healthz")
        warm = post(f"{base}/api/v1/bot/conversations", key, {})
        for text in questions[:4]:  # loads the models (and traces the base) in the worker
            post(f"{base}/api/v1/bot/conversations/{warm['id']}/messages", key, {"text": text})
        latencies: list[float] = []
        kinds: dict[str, int] = {}  # of the loaded round's replies
        errors: list[str] = []
        lock = threading.Lock()

        def client(number: int, think_ms: float = 0, out: list[float] = latencies,
                   kinds: dict[str, int] = kinds) -> None:
            conversation = post(f"{base}/api/v1/bot/conversations", key, {})
            pauses = random.Random(number)
            for index in range(args.messages):
                text = client_text(questions, number, index, args.messages)
                if think_ms:
                    time.sleep(pauses.expovariate(1000 / think_ms))
                started = time.perf_counter()
                try:
                    answer = post(f"{base}/api/v1/bot/conversations/{conversation['id']}"
                                  "/messages", key, {"text": text})
                except OSError as error:
                    with lock:
                        errors.append(str(error))
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                reply = answer.get("reply") or {}
                with lock:
                    out.append(elapsed)
                    kind = reply.get("reply_kind", "none (handed off)")
                    kinds[kind] = kinds.get(kind, 0) + 1

        cpu_before = cpu_seconds()
        seconds = run_clients(args.clients, client)
        cpu = cpu_per_message(cpu_before, cpu_seconds(), len(latencies))
        # The paced round: the same clients with a pause between messages, as people chat
        # (people pause far longer than a second), so the stack is not saturated.
        paced: list[float] = []
        paced_seconds = run_clients(args.clients, functools.partial(
            client, think_ms=args.think_ms, out=paced, kinds={}))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)

    if not latencies:
        raise SystemExit(f"no message was answered: {errors[:3]}")
    p95, bare_p95 = percentile(latencies, 0.95), percentile(bare, 0.95)
    print(f"{len(latencies)} messages from {args.clients} clients in {seconds:.1f} s; "
          f"{len(errors)} errors; replies {kinds}; bare model p50 "
          f"{statistics.median(bare):.1f} ms, p95 {bare_p95:.1f} ms", flush=True)
    bare_load_p95 = percentile(bare_load, 0.95)
    print(f"bare model under the same {args.clients} clients in-process: p50 "
          f"{statistics.median(bare_load):.1f} ms, p95 {bare_load_p95:.1f} ms, "
          f"{len(bare_load) / bare_load_seconds:.1f} messages/s", flush=True)
    paced_p95 = percentile(paced, 0.95)
    print(f"paced round (mean pause {args.think_ms:.0f} ms): {len(paced)} messages, "
          f"{len(paced) / paced_seconds:.1f} messages/s, p50 {statistics.median(paced):.1f} ms, "
          f"p95 {paced_p95:.1f} ms, p99 {percentile(paced, 0.99):.1f} ms", flush=True)
    print(f"CPU per message (ms): {cpu}, total {sum(cpu.values()):.1f} "
          f"(the machine has {os.cpu_count()} cores)", flush=True)
    record("bot.chat_p50_ms", percentile(latencies, 0.5), "ms")
    record("bot.chat_p95_ms", p95, "ms", baseline=bare_p95)
    record("bot.chat_p99_ms", percentile(latencies, 0.99), "ms")
    record("bot.chat_messages_per_second", len(latencies) / seconds, "messages/s")
    record("bot.chat_p95_ratio_vs_bare", p95 / bare_p95, "x", baseline=bare_p95,
           ratio=p95 / bare_p95)
    record("bot.chat_p95_ratio_vs_bare_same_load", p95 / bare_load_p95, "x",
           baseline=bare_load_p95, ratio=p95 / bare_load_p95)
    record("bot.bare_same_load_messages_per_second", len(bare_load) / bare_load_seconds,
           "messages/s")
    record("bot.chat_paced_p95_ms", paced_p95, "ms", baseline=bare_p95,
           ratio=paced_p95 / bare_p95)
    record("bot.chat_paced_p95_ratio_vs_bare", paced_p95 / bare_p95, "x", baseline=bare_p95,
           ratio=paced_p95 / bare_p95)


if __name__ == "__main__":
    main()
