"""The recommendation app's jobs: item embeddings, training with offline evaluation, and the
batch top-K.

- ``embed_items``: the base encoder's embeddings of the items' text, written to pgvector in
  chunks; a retried job finds only what is left.
- ``train``: the hybrid model (``workers.runtime.recommender``) is fitted on a holdout split
  and scored against popularity, plain ALS and the active version's recipe on the same split;
  then refitted on every interaction and stored as a model version (factors, a few MB),
  promoted when its NDCG@10 is at least the active recipe's. A promoted version's popularity
  prior becomes the cold-start list, and a ``recommend`` job follows.
- ``recommend``: every known user's top-K with a reason, written through the keyed bulk
  write-back in chunks of users (a retried job writes each entry once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
from django.db.models import F, Q
from django.utils import timezone

from apps.recommendation import services
from apps.recommendation.models import Interaction, Item
from apps.recommendation.spec import APP
from jobs.models import Job, JobEvent, ModelVersion
from jobs.services import active_version, job_submit, model_version_create
from workers.execution import JobContext, Outcome
from workers.handlers.text_classification import _register_configured_bases
from workers.runtime import ranker as learned
from workers.runtime import recommender
from workers.runtime.classifier import embed

EMBED_CHUNK = 256
USER_CHUNK = 256
ANCHOR_SIMILARITY = 0.3  # below it, "because you liked X" would not be believable


# --- embed_items -----------------------------------------------------------------------------


def embed_items(job: Job, context: JobContext) -> Outcome:
    _register_configured_bases()
    pending = Item.objects.all()
    if job.params.get("scope", "missing") == "missing":
        pending = pending.filter(Q(embedded_at__isnull=True) | Q(updated_at__gt=F("embedded_at")))
    rows = list(pending.order_by("id").values_list("id", "title", "categories", "description"))
    context.progress(0, items_total=len(rows), force=True)
    done = 0
    for start in range(0, len(rows), EMBED_CHUNK):
        context.check_cancelled()
        chunk = rows[start:start + EMBED_CHUNK]
        texts = [services.item_text(title, categories, description)
                 for _, title, categories, description in chunk]
        vectors = np.concatenate([vectors for _, vectors in embed(
            texts, job.params.get("base_model", "all-MiniLM-L6-v2"),
            batch_size=int(job.params.get("batch_size", 64)), chunk_size=len(texts))])
        services.item_embeddings_record(ids=[row[0] for row in chunk], vectors=vectors.tolist(),
                                        embedded_at=timezone.now())
        done += len(chunk)
        context.progress(done)
    context.progress(done, force=True)
    follow_up = None
    if job.params.get("then_train") is not None:
        follow_up = job_submit(app=APP, kind="train", params=job.params["then_train"],
                               created_by_id=job.created_by_id).job
    return Outcome(metrics={"items": done, "follow_up_job": follow_up.pk if follow_up else None},
                   items=done)


# --- train -----------------------------------------------------------------------------------


def _interactions() -> recommender.Interactions:
    rows = list(Interaction.objects.values_list("user_id", "item_id", "kind", "value",
                                                "occurred_at"))
    if not rows:
        raise ValueError("There are no interactions to learn from; send events first.")
    users, items, kinds, values, times = zip(*rows, strict=True)
    stamps = np.array([moment.timestamp() for moment in times])
    return recommender.Interactions.from_rows(
        users, items,
        [recommender.confidence(kind, value) for kind, value in zip(kinds, values, strict=True)],
        [recommender.is_positive(kind, value) for kind, value in zip(kinds, values, strict=True)],
        # Events that all share one instant (an import without times) carry no order.
        times=stamps if np.ptp(stamps) > 0 else None)


def _embeddings(item_ids: np.ndarray) -> np.ndarray | None:
    """The items' embeddings in ``item_ids`` order (zeros where missing); None when none."""
    found = dict(Item.objects.filter(pk__in=item_ids.tolist(), embedding__isnull=False)
                 .values_list("id", "embedding"))
    if not found:
        return None
    vectors = {item_id: np.asarray(vector, dtype=np.float32) for item_id, vector in found.items()}
    dimensions = len(next(iter(vectors.values())))
    out = np.zeros((len(item_ids), dimensions), dtype=np.float32)
    for position, item_id in enumerate(item_ids.tolist()):
        if item_id in vectors:
            out[position] = vectors[item_id]
    return out


def _item_categories(item_ids: np.ndarray) -> Any:
    found = dict(Item.objects.filter(pk__in=item_ids.tolist()).values_list("id", "categories"))
    return learned.category_matrix([found.get(item_id) or [] for item_id in item_ids.tolist()])


def _ranker_context(data: recommender.Interactions, mask: np.ndarray, categories: Any
                    ) -> learned.Context:
    return learned.Context(history=data.matrix(mask, binary=True), item_categories=categories,
                           recency_days=learned.recency_days(data, mask))


def _ranker(data: recommender.Interactions, recipe: recommender.Recipe, train_mask: np.ndarray,
            categories: Any, **fit: Any) -> learned.Ranker | None:
    """LambdaRank trained on a validation split carved from ``train_mask`` (the hybrid model
    fitted on the rest); None when there is too little to learn from."""
    # Users with 5 training events count here (10 for the test holdout), so that a small
    # tenant's ranker has users to learn from.
    fit_mask, validation = recommender.holdout_split(data, seed=recipe.seed + 1,
                                                     base=train_mask, min_interactions=5)
    if not validation.any():
        return None
    model = recommender.fit(data, recipe, fit_mask, **fit)
    return learned.train(model, _ranker_context(data, fit_mask, categories),
                         data.matrix(validation, binary=True), seed=recipe.seed)


def train(job: Job, context: JobContext) -> Outcome:
    params = job.params
    recipe = recommender.Recipe.from_params(params)
    data = _interactions()
    embeddings = _embeddings(data.item_ids) if recipe.content_weight else None
    half_life = float(params.get("recency_half_life_days", 90.0))
    train_mask, test_mask = recommender.holdout_split(
        data, fraction=float(params.get("holdout_fraction", 0.2)), seed=recipe.seed)
    if not test_mask.any():
        raise ValueError("No user has enough interactions (10, with positive ones) to hold "
                         "some out for evaluation.")
    train_matrix = data.matrix(train_mask, binary=True)
    test_matrix = data.matrix(test_mask, binary=True)
    context.progress(0, items_total=4, force=True)

    def fitted(candidate: recommender.Recipe, mask: np.ndarray, *, binary: bool = False
               ) -> recommender.HybridModel:
        context.check_cancelled()
        return recommender.fit(data, candidate, mask, item_embeddings=embeddings,
                               popularity=recommender.popularity_prior(
                                   data, mask, half_life_days=half_life), binary=binary)

    def scored(candidate: recommender.Recipe, *, binary: bool = False
               ) -> tuple[recommender.RankingMetrics, float]:
        started = time.perf_counter()
        model = fitted(candidate, train_mask, binary=binary)
        seconds = time.perf_counter() - started
        return recommender.evaluate(model.scores, train_matrix, test_matrix), seconds

    started = time.perf_counter()
    held_model = fitted(recipe, train_mask)
    train_seconds = time.perf_counter() - started
    blend_metrics = model_metrics = recommender.evaluate(held_model.scores, train_matrix,
                                                         test_matrix)
    categories = _item_categories(data.item_ids)
    ranker = None
    if params.get("ranker", True):
        ranker = _ranker(data, recipe, train_mask, categories, item_embeddings=embeddings,
                         popularity=recommender.popularity_prior(data, train_mask,
                                                                 half_life_days=half_life))
    # Models earn their place: the ranker serves only if it beat the blend on validation.
    if ranker is not None and ranker.beats_blend:
        model_metrics = recommender.evaluate(
            ranker.score_fn(held_model, _ranker_context(data, train_mask, categories)),
            train_matrix, test_matrix)
    context.progress(1)
    popularity = recommender.evaluate(
        recommender.popularity_scores(recommender.popularity_prior(
            data, train_mask, half_life_days=half_life)), train_matrix, test_matrix)
    plain, _ = scored(recommender.PLAIN_ALS, binary=True)
    context.progress(2)
    current = active_version(app=APP)
    baseline = None
    if current is not None:
        current_recipe = recommender.Recipe.from_params(current.metrics.get("recipe", {}))
        baseline = (blend_metrics if current_recipe == recipe
                    else scored(current_recipe)[0]).as_dict()
    context.progress(3)
    metrics: dict[str, Any] = {
        **model_metrics.as_dict(),
        "popularity": popularity.as_dict(),
        "plain_als": plain.as_dict(),
        "ndcg_ratio_vs_popularity": round(model_metrics.ndcg_at_10
                                          / max(popularity.ndcg_at_10, 1e-9), 4),
        "recall_ratio_vs_popularity": round(model_metrics.recall_at_10
                                            / max(popularity.recall_at_10, 1e-9), 4),
        "train_seconds": round(train_seconds, 3),
        "split": "latest positives per user" if data.times is not None
                 else "fixed-seed random positives per user",
        "interactions": int(len(data.users)), "users": data.shape[0], "items": data.shape[1],
        "recipe": {key: value for key, value in params.items()
                   if key in recommender.Recipe.__dataclass_fields__},
    }
    if baseline is not None:
        metrics["baseline"] = baseline
    if ranker is not None:
        metrics["blend"] = blend_metrics.as_dict()
        metrics["ranker"] = {**ranker.describe(), "serving": ranker.beats_blend}
    context.event(JobEvent.Kind.METRICS, "Holdout evaluation", **metrics)

    context.check_cancelled()
    prior = recommender.popularity_prior(data, half_life_days=half_life,
                                         now=timezone.now().timestamp()
                                         if data.times is not None else None)
    model = recommender.fit(data, recipe, item_embeddings=embeddings, popularity=prior)
    if ranker is not None and ranker.beats_blend:
        model.ranker = ranker.to_text()
        model.metadata["ranker"] = ranker.describe()
    context.progress(4, force=True)
    version = model_version_create(
        job=job, label_map=[], metrics=metrics, artifact_name="recommender.zip",
        artifact=model.to_bytes(), base_model="als+content" if recipe.content_weight else "als",
        method="hybrid+ltr" if model.ranker else "hybrid",
        force=bool(params.get("force")), metric="ndcg_at_10")
    follow_up = None
    if version.status == ModelVersion.Status.ACTIVE:
        services.item_popularity_record(popularity=dict(zip(
            data.item_ids.tolist(), prior.astype(float).tolist(), strict=True)))
        if int(params.get("recommend_k", 20)):
            follow_up = job_submit(app=APP, kind="recommend", model_version_id=version.pk,
                                   params={"k": int(params.get("recommend_k", 20))}).job
    return Outcome(metrics={**metrics, "model_version": version.pk,
                            "model_version_number": version.version,
                            "promoted": version.status == ModelVersion.Status.ACTIVE,
                            "follow_up_job": follow_up.pk if follow_up else None},
                   items=int(len(data.users)))


# --- recommend -------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _load(version_id: int, sha256: str) -> recommender.HybridModel:
    version = ModelVersion.objects.get(pk=version_id)
    with version.artifact.open("rb") as handle:
        return recommender.HybridModel.from_bytes(handle.read())


def _consumed(model: recommender.HybridModel, user_ids: list[int]) -> tuple[Any, Any]:
    """Users × items of the model: what each user already interacted with (now, not at
    training time), and the part of it they liked (low ratings left out), which explains
    recommendations."""
    import scipy.sparse as sp

    user_pos = {user_id: position for position, user_id in enumerate(user_ids)}
    item_pos = {item_id: position for position, item_id in enumerate(model.item_ids.tolist())}
    pairs = [(user_pos[user], item_pos[item], not (kind == "rating" and (value or 0) < 3))
             for user, item, kind, value in Interaction.objects.filter(
                 user_id__in=user_ids).values_list("user_id", "item_id", "kind", "value")
             if item in item_pos]
    shape = (len(user_ids), len(model.item_ids))

    def matrix(rows: list[tuple[int, int, bool]]) -> Any:
        users = [row[0] for row in rows]
        items = [row[1] for row in rows]
        return sp.csr_matrix((np.ones(len(rows), np.float32), (users, items)), shape=shape)

    return matrix(pairs), matrix([pair for pair in pairs if pair[2]])


def _reasons(model: recommender.HybridModel, liked: Any, row: int, items: np.ndarray,
             titles: dict[int, str], categories: dict[int, list[str]]) -> Iterator[str]:
    history = liked.indices[liked.indptr[row]:liked.indptr[row + 1]]
    for item in items.tolist():
        if len(history):
            similarity = model.item_similarity(item, history)
            best = int(np.argmax(similarity))
            if similarity[best] >= ANCHOR_SIMILARITY:
                title = titles.get(int(model.item_ids[history[best]]), "")
                yield f"Because you liked “{title[:200]}”"
                continue
        first = categories.get(int(model.item_ids[item])) or []
        yield f"Popular in {first[0]}" if first else "Popular"


def _ranked_scores(model: recommender.HybridModel) -> Any:
    """The learned ranker's scores over each user's candidates, with the features of now:
    every user's interactions, the items' categories and days since their latest event."""
    rows = list(Interaction.objects.filter(item_id__in=model.item_ids.tolist()).values_list(
        "user_id", "item_id", "occurred_at"))
    item_pos = {item_id: position for position, item_id in enumerate(model.item_ids.tolist())}
    user_pos = {user_id: position for position, user_id in enumerate(model.user_ids.tolist())}
    pairs = [(user_pos[user], item_pos[item]) for user, item, _ in rows if user in user_pos]
    import scipy.sparse as sp

    history = sp.csr_matrix((np.ones(len(pairs), np.float32),
                             ([pair[0] for pair in pairs], [pair[1] for pair in pairs])),
                            shape=(len(model.user_ids), len(model.item_ids)))
    history.data[:] = 1.0  # repeated events of a pair count once
    latest = np.full(len(model.item_ids), -np.inf)
    for _, item, moment in rows:
        latest[item_pos[item]] = max(latest[item_pos[item]], moment.timestamp())
    days = (timezone.now().timestamp() - latest) / 86400.0
    context = learned.Context(
        history=history, item_categories=_item_categories(model.item_ids),
        recency_days=np.where(np.isfinite(days), days, 10_000.0).astype(np.float32))
    ranker = learned.Ranker.from_text(model.ranker or "",
                                      model.metadata.get("ranker", {}).get("validation"))
    return ranker.score_fn(model, context)


def recommend(job: Job, context: JobContext) -> Outcome:
    version = job.model_version or active_version(app=APP)
    if version is None:
        raise ValueError("There is no trained model yet; run a train job first.")
    model = _load(version.pk, version.artifact_sha256)
    k = int(job.params.get("k", 20))
    exclude_consumed = bool(job.params.get("exclude_consumed", True))
    item_rows = Item.objects.filter(pk__in=model.item_ids.tolist()).values_list(
        "id", "title", "categories", "available")
    titles, categories, unavailable = {}, {}, []
    for item_id, title, item_categories, available in item_rows:
        titles[item_id], categories[item_id] = title, item_categories
        if not available:
            unavailable.append(item_id)
    # Items deleted since training, and unavailable ones when asked, are never recommended.
    blocked = ~np.isin(model.item_ids, list(titles)) | (
        np.isin(model.item_ids, unavailable) if job.params.get("available_only", True)
        else False)
    # Users deleted since training drop out; new users are served by the fallbacks.
    from apps.recommendation.models import EndUser

    existing = set(EndUser.objects.filter(pk__in=model.user_ids.tolist())
                   .values_list("id", flat=True))
    positions = np.array([p for p, u in enumerate(model.user_ids.tolist()) if u in existing],
                         dtype=np.int64)
    score_fn = model.scores
    if model.ranker is not None:
        score_fn = _ranked_scores(model)
    context.progress(0, items_total=len(positions), force=True)
    written = 0
    for start in range(0, len(positions), USER_CHUNK):
        context.check_cancelled()
        chunk = positions[start:start + USER_CHUNK]
        user_ids = model.user_ids[chunk].tolist()
        consumed, liked = _consumed(model, user_ids)
        scores = score_fn(chunk)
        scores[:, blocked] = -np.inf
        top, top_scores = recommender.top_k(scores, consumed if exclude_consumed else None,
                                            np.arange(len(chunk)), k)
        rows = []
        for row, user_id in enumerate(user_ids):
            valid = np.isfinite(top_scores[row])
            items, values = top[row][valid], top_scores[row][valid]
            reasons = _reasons(model, liked, row, items, titles, categories)
            rows += [services.RecommendationRow(
                user_id=user_id, item_id=int(model.item_ids[item]), rank=rank,
                score=round(float(value), 6), reason=reason)
                for rank, (item, value, reason) in enumerate(
                    zip(items.tolist(), values.tolist(), reasons, strict=True), start=1)]
        written += services.recommendations_record(job=job, version=version, rows=rows)
        context.progress(start + len(chunk))
    context.progress(len(positions), force=True)
    return Outcome(metrics={"users": int(len(positions)), "k": k, "recommendations": written,
                            # By id, with its number, as every job records it.
                            "model_version": version.pk,
                            "model_version_number": version.version},
                   items=int(len(positions)))
