"""The content-gap report on the workers: the questions the bot could not answer, embedded
with the retrieval base (the space the bot's article search scores messages in) and
clustered by meaning; the clusters are ranked by volume in ``apps.support_bot.review``.

Clustering is agglomerative with average linkage on cosine similarity, stopping when the
closest two clusters are less similar than the threshold: the number of clusters is not
known in advance, and a threshold reads as "this similar means the same question". It is
plain numpy (no scikit-learn dependency): repeated texts are folded into one weighted point
first, and the similarity matrix is updated in place (Lance-Williams), so a merge costs one
pass over an n x n matrix: about a second for the 1,000 questions a job takes by default.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from apps.support_bot import review
from jobs.models import Job
from workers import runtime
from workers.execution import JobContext, Outcome

EMBED_CHUNK = 256


def cluster_by_similarity(vectors: np.ndarray, weights: np.ndarray, threshold: float
                          ) -> list[list[int]]:
    """Groups of row indices of the L2-normalised ``vectors`` (each row counted ``weights``
    times): average-linkage agglomeration until no two groups are ``threshold`` similar."""
    count = len(vectors)
    if count == 0:
        return []
    similarity = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    sizes = weights.astype(np.float64).copy()
    members: list[list[int]] = [[index] for index in range(count)]
    alive = np.ones(count, dtype=bool)
    for _ in range(count - 1):
        flat = int(np.argmax(similarity))
        first, second = divmod(flat, count)
        if similarity[first, second] < threshold:
            break
        # Lance-Williams for average linkage: the merged group's similarity to every other
        # group is the size-weighted mean of its parts'.
        merged = (sizes[first] * similarity[first] + sizes[second] * similarity[second]) / (
            sizes[first] + sizes[second])
        similarity[first], similarity[:, first] = merged, merged
        similarity[first, first] = -np.inf
        similarity[second], similarity[:, second] = -np.inf, -np.inf
        sizes[first] += sizes[second]
        members[first].extend(members[second])
        members[second] = []
        alive[second] = False
    return [members[index] for index in range(count) if alive[index]]


def _central_first(group: list[int], vectors: np.ndarray, weights: np.ndarray) -> list[int]:
    """The group's points, the most central (highest weighted mean similarity) first."""
    block = vectors[group]
    centrality = (block @ block.T) @ weights[group]
    return [group[i] for i in np.argsort(-centrality, kind="stable")]


def content_gaps(job: Job, context: JobContext) -> Outcome:
    """Cluster the tenant's unanswered questions and store the clusters (replacing the
    job's earlier ones, so a retried job is safe)."""
    params = job.params
    questions = review.unanswered_questions(days=int(params.get("days", 30)),
                                            limit=int(params.get("max_questions", 1000)))
    context.progress(0, items_total=len(questions), force=True)
    by_text: dict[str, list[int]] = {}
    shown: dict[str, str] = {}
    for message_id, text in questions:
        key = " ".join(text.lower().split())
        by_text.setdefault(key, []).append(message_id)
        shown.setdefault(key, text.strip())
    keys = list(by_text)
    weights = np.array([len(by_text[key]) for key in keys], dtype=np.float64)
    vectors = (np.concatenate([block for _, block in runtime.embed(
        [shown[key] for key in keys], chunk_size=EMBED_CHUNK)]) if keys
        else np.empty((0, 1), dtype=np.float32))
    context.check_cancelled()
    groups = cluster_by_similarity(vectors, weights, float(params.get("similarity", 0.6)))
    clusters = []
    for group in groups:
        ordered = _central_first(group, vectors, weights)
        clusters.append(review.Cluster(
            message_ids=sorted(mid for index in ordered for mid in by_text[keys[index]]),
            label=shown[keys[ordered[0]]],
            examples=[shown[keys[index]] for index in ordered[:review.GAP_EXAMPLES]]))
    stored = review.content_gaps_record(job=job, clusters=clusters)
    context.progress(len(questions))
    sizes = Counter(len(cluster.message_ids) for cluster in clusters)
    return Outcome(metrics={"items": len(questions), "questions": len(questions),
                            "distinct_questions": len(keys), "clusters": stored,
                            "largest_cluster": max(sizes, default=0)},
                   items=len(questions))
