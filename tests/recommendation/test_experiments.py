"""A/B experiments end to end through the API: two arms (a model version and popularity)
serve their own lists to a stable half of the users each, every list carries its
recommendation id and arm, clicks and purchases are attributed to the right arm (by the id,
or by the same user clicking a shown item within the window), the results match the counts,
and the experiment stops and promotes its winner. Bad input answers 400 naming the field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.recommendation import services
from apps.recommendation.experiments.models import Experiment
from apps.recommendation.experiments.selectors import arm_assign
from apps.recommendation.models import EndUser, Impression, Item
from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row

EXPERIMENTS = "/api/v1/recommendations/experiments"


def make_version(setup: TenantSetup, number: int, *, active: bool = False) -> ModelVersion:
    with tenant_context(setup.tenant.pk):
        return ModelVersion.objects.create(
            app="recommendation", version=number, base_model="als", method="hybrid",
            status=ModelVersion.Status.ACTIVE if active else ModelVersion.Status.READY,
            artifact=f"v{number}.zip", metrics={"ndcg_at_10": 0.3})


def precompute_for(setup: TenantSetup, version: ModelVersion,
                   lists: dict[str, Sequence[str]]) -> Job:
    """A ``recommend`` job's lists written for ``version``."""
    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="recommendation", kind="recommend", model_version=version,
                                 status=Job.Status.SUCCEEDED, params={"k": 10})
        users = dict(EndUser.objects.values_list("external_id", "id"))
        items = dict(Item.objects.values_list("external_id", "id"))
        services.recommendations_record(job=job, version=version, rows=[
            services.RecommendationRow(user_id=users[user], item_id=items[item], rank=rank,
                                       score=1.0 / rank, reason=f"v{version.version} pick")
            for user, chosen in lists.items() for rank, item in enumerate(chosen, start=1)])
        return job


@pytest.fixture
def catalogue(acme: TenantSetup) -> dict[str, Any]:
    add_items(acme, [item_row("niche", "Niche book"), item_row("hit", "Bestseller"),
                     item_row("seen", "Read already")])
    users = [f"u{index}" for index in range(40)]
    add_events(acme, [(user, "seen", "view") for user in users])  # the users exist
    with tenant_context(acme.tenant.pk):
        items = {item.external_id: item for item in Item.objects.all()}
        services.item_popularity_record(popularity={items["hit"].pk: 5.0})
    version = make_version(acme, 1, active=True)
    # v1 recommends the niche book to everybody; popularity recommends the bestseller.
    precompute_for(acme, version, {user: ["niche"] for user in users})
    return {"users": users, "version": version}


def _start(setup: TenantSetup, **body: Any) -> Any:
    return setup.api().post(EXPERIMENTS, {"name": "v1 vs popularity", "arm_a": "v1",
                                          "arm_b": "popularity", **body}, format="json")


def test_arms_serve_their_sources_and_clicks_count_for_the_right_arm(
        acme: TenantSetup, catalogue: dict[str, Any]) -> None:
    started = _start(acme)
    assert started.status_code == 201, started.json()
    experiment = started.json()
    assert (experiment["arm_a"], experiment["arm_b"], experiment["status"]) == (
        "v1", "popularity", "running")
    api = acme.api()
    served: dict[str, dict[str, Any]] = {}
    for user in catalogue["users"]:
        body = api.get(f"/api/v1/recommendations/users/{user}", {"k": 1}).json()
        assert body["recommendation_id"] == body["request_id"]
        assert body["experiment"]["id"] == experiment["id"]
        served[user] = body
    arms = {user: body["experiment"]["arm"] for user, body in served.items()}
    # Stable: the hash decides, and asking again gives the same arm.
    assert arms == {user: arm_assign(tenant_id=acme.tenant.pk, experiment_id=experiment["id"],
                                     external_id=user, traffic_b=50) for user in arms}
    in_a = [user for user, arm in arms.items() if arm == "a"]
    in_b = [user for user, arm in arms.items() if arm == "b"]
    assert len(in_a) >= 2
    assert len(in_b) >= 3
    for user in in_a:
        assert [row["item"] for row in served[user]["items"]] == ["niche"]
        assert served[user]["items"][0]["source"] == "precomputed"
    for user in in_b:
        assert [row["item"] for row in served[user]["items"]] == ["hit"]
        assert served[user]["items"][0]["source"] == "popular"

    # Two arm-A users click with the list's id; one arm-B user clicks the shown item without
    # it (attributed by time); one arm-B user buys with the id. A click an hour *before* the
    # list was served, and a click on another user's list id by an unknown event, count not.
    now = timezone.now()
    events = [
        {"event_id": "c1", "user": in_a[0], "item": "niche", "kind": "click",
         "recommendation_id": served[in_a[0]]["recommendation_id"]},
        {"event_id": "c2", "user": in_a[1], "item": "niche", "kind": "click",
         "recommendation_id": served[in_a[1]]["recommendation_id"]},
        {"event_id": "c3", "user": in_b[0], "item": "hit", "kind": "click"},
        {"event_id": "p1", "user": in_b[1], "item": "hit", "kind": "purchase",
         "recommendation_id": served[in_b[1]]["recommendation_id"]},
        {"event_id": "early", "user": in_b[2], "item": "hit", "kind": "click",
         "occurred_at": (now - timedelta(hours=1)).isoformat()},
    ]
    assert api.post("/api/v1/events", {"events": events}, format="json").status_code == 201
    detail = api.get(f"{EXPERIMENTS}/{experiment['id']}").json()
    arm_a, arm_b = detail["results"]["arms"]
    assert (arm_a["arm"], arm_a["source"], arm_a["lists"]) == ("a", "v1", len(in_a))
    assert (arm_b["arm"], arm_b["source"], arm_b["lists"]) == ("b", "popularity", len(in_b))
    assert (arm_a["ctr"]["successes"], arm_a["conversion"]["successes"]) == (2, 0)
    assert (arm_b["ctr"]["successes"], arm_b["conversion"]["successes"]) == (1, 1)
    assert arm_a["ctr"]["rate"] == pytest.approx(2 / len(in_a))
    assert arm_a["ctr"]["low"] < arm_a["ctr"]["rate"] < arm_a["ctr"]["high"]
    # 40 users: far below the minimum sample.
    assert detail["results"]["call"] == "Not enough data yet"
    assert detail["results"]["ctr"]["call"] == "not_enough_data"
    with tenant_context(acme.tenant.pk):
        assert set(Impression.objects.values_list("arm", flat=True)) == {"a", "b"}
    for user in ("u0", "u1", "u2"):  # served again: the same arm
        assert api.get(f"/api/v1/recommendations/users/{user}").json()["experiment"][
            "arm"] == arms[user]


def test_a_clear_winner_is_called_and_promoted(acme: TenantSetup,
                                               catalogue: dict[str, Any]) -> None:
    v2 = make_version(acme, 2)
    precompute_for(acme, v2, {user: ["niche"] for user in catalogue["users"]})
    experiment = _start(acme, arm_a="v1", arm_b="v2").json()
    with tenant_context(acme.tenant.pk):
        item = Item.objects.get(external_id="niche")
        # 150 lists per arm, written as the serving path writes them: A 15 clicked, B 45.
        for arm, clicked in (("a", 15), ("b", 45)):
            for index in range(150):
                user = f"{arm}-reader-{index}"
                list_id = services.impressions_log(
                    user_external_id=user, item_ids=[item.pk], source="precomputed",
                    experiment_id=experiment["id"], arm=arm)
                if index < clicked:
                    services.events_ingest(rows=[{
                        "event_id": f"{user}-click", "user": user, "item": "niche",
                        "kind": "click", "recommendation_id": list_id}])
    detail = acme.api().get(f"{EXPERIMENTS}/{experiment['id']}").json()
    assert detail["results"]["call"] == "B is better, 95% confidence"
    assert detail["results"]["ctr"]["p_value"] < 0.05
    promoted = acme.api().post(f"{EXPERIMENTS}/{experiment['id']}/promote", {},
                               format="json")
    assert promoted.status_code == 200, promoted.json()
    assert (promoted.json()["winner"], promoted.json()["status"]) == ("b", "stopped")
    with tenant_context(acme.tenant.pk):
        v2.refresh_from_db()
        assert v2.status == ModelVersion.Status.ACTIVE
        assert "experiment" in v2.promotion_note
        assert Job.objects.filter(kind="recommend", model_version=v2,
                                  status=Job.Status.QUEUED).exists()
    # Stopped: lists are served without an experiment again.
    assert acme.api().get("/api/v1/recommendations/users/u1").json()["experiment"] is None


def test_stop_is_idempotent_and_popularity_or_no_winner_cannot_be_promoted(
        acme: TenantSetup, catalogue: dict[str, Any]) -> None:
    experiment = _start(acme).json()
    api = acme.api()
    no_winner = api.post(f"{EXPERIMENTS}/{experiment['id']}/promote", {}, format="json")
    assert no_winner.status_code == 400
    assert "arm" in no_winner.json()["error"]["fields"]
    popularity = api.post(f"{EXPERIMENTS}/{experiment['id']}/promote", {"arm": "b"},
                          format="json")
    assert popularity.status_code == 400
    assert "popularity" in popularity.json()["error"]["message"]
    for _ in range(2):
        stopped = api.post(f"{EXPERIMENTS}/{experiment['id']}/stop")
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "stopped"
    # Stopped, another may start.
    assert _start(acme, name="second").status_code == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"arm_b": None}, "arm_b"),                      # one arm
    ({"arm_b": "v1"}, "arm_b"),                      # the same arm twice
    ({"arm_a": "popularity"}, "arm_b"),              # popularity twice
    ({"arm_a": "v9"}, "arm_a"),                      # an unknown version
    ({"arm_a": "best"}, "arm_a"),                    # not an arm
    ({"traffic_b": 100}, "traffic_b"),
    ({"traffic_b": 0}, "traffic_b"),
    ({"name": ""}, "name"),
    ({"metric": "revenue"}, "metric"),
])
def test_bad_experiments_answer_400_naming_the_field(
        acme: TenantSetup, catalogue: dict[str, Any], body: dict[str, Any], field: str) -> None:
    payload = {"name": "x", "arm_a": "v1", "arm_b": "popularity", **body}
    payload = {key: value for key, value in payload.items() if value is not None}
    response = acme.api().post(EXPERIMENTS, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Experiment.objects.exists()


def test_overlapping_experiments_are_refused(acme: TenantSetup,
                                             catalogue: dict[str, Any]) -> None:
    assert _start(acme).status_code == 201
    second = _start(acme, name="another")
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "experiment_running"
    assert "stop it" in second.json()["error"]["message"]
    with tenant_context(acme.tenant.pk):
        assert Experiment.objects.count() == 1


def test_a_version_arm_without_lists_gets_a_recommend_job(acme: TenantSetup,
                                                          catalogue: dict[str, Any]) -> None:
    v2 = make_version(acme, 2)
    assert _start(acme, arm_b="v2").status_code == 201
    with tenant_context(acme.tenant.pk):
        assert list(Job.objects.filter(kind="recommend", status=Job.Status.QUEUED)
                    .values_list("model_version", flat=True)) == [v2.pk]


def test_another_tenant_cannot_read_stop_or_promote_an_experiment(
        acme: TenantSetup, globex: TenantSetup, catalogue: dict[str, Any]) -> None:
    experiment = _start(acme).json()
    api = globex.api()
    path = f"{EXPERIMENTS}/{experiment['id']}"
    assert api.get(path).status_code == 404
    assert api.post(f"{path}/stop").status_code == 404
    assert api.post(f"{path}/promote", {"arm": "a"}, format="json").status_code == 404
    assert api.delete(path).status_code in (404, 405)
    assert api.get(EXPERIMENTS).json()["results"] == []
    # globex's own users are served without acme's experiment.
    assert api.get("/api/v1/recommendations/users/u1").json()["experiment"] is None
    # globex may start its own experiment (one running per tenant, not per platform), but
    # not with acme's version.
    refused = api.post(EXPERIMENTS, {"name": "x", "arm_a": "v1", "arm_b": "popularity"},
                       format="json")
    assert refused.status_code == 400
    with tenant_context(acme.tenant.pk):
        assert Experiment.objects.get().status == Experiment.Status.RUNNING
        assert Experiment.objects.get().winner == ""
