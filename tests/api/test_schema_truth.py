"""The OpenAPI schema tells the truth (issue 15, item 9; issue 16, item 10): the errors every
operation can give, the bounds of its parameters, each job kind's own parameters, and
response shapes that match what the API serves."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.finance_sentiment.models import Document
from apps.support_bot import services as bot_services
from apps.support_bot.models import Conversation, Message
from jobs.models import Job
from jobs.registry import all_apps
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

JOBS = "/api/v1/jobs"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_every_operation_documents_its_errors_in_the_error_format(schema: dict) -> None:
    operations = [(path, method, operation) for path, item in schema["paths"].items()
                  for method, operation in item.items()]
    assert len(operations) > 100
    for path, method, operation in operations:
        codes = set(operation["responses"])
        assert {"400", "401", "403", "404", "429"} <= codes, (method, path, codes)
        if method != "get":
            assert {"409"} <= codes, (method, path, codes)
        error = operation["responses"]["404"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "fields"}  # problems, more: optional


def test_page_size_has_its_bounds(schema: dict) -> None:
    parameters = {p["name"]: p for p in schema["paths"][JOBS]["get"]["parameters"]}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1,
                                                 "maximum": 500}
    predictions = {p["name"]: p for p in
                   schema["paths"][JOBS + "/{id}/predictions"]["get"]["parameters"]}
    assert predictions["page_size"]["schema"]["maximum"] == 1000


def test_job_create_is_a_union_of_every_registered_kind_with_its_own_params(
        schema: dict) -> None:
    body = schema["paths"][JOBS]["post"]["requestBody"]["content"]["application/json"]
    union = _resolve(schema, body["schema"])
    assert union["discriminator"]["propertyName"] == "app"
    apps = {spec.label: spec for spec in all_apps()}
    assert set(union["discriminator"]["mapping"]) == set(apps)
    for label, ref in union["discriminator"]["mapping"].items():
        by_kind = _resolve(schema, {"$ref": ref})
        assert by_kind["discriminator"]["propertyName"] == "kind"
        kinds = apps[label].job_kinds
        assert set(by_kind["discriminator"]["mapping"]) == set(kinds)
        for name, kind_ref in by_kind["discriminator"]["mapping"].items():
            variant = _resolve(schema, {"$ref": kind_ref})
            assert variant["properties"]["app"]["allOf"][0]["enum"] == [label]
            assert variant["properties"]["kind"]["allOf"][0]["enum"] == [name]
            params = _resolve(schema, variant["properties"]["params"])
            assert params["additionalProperties"] is False
            assert set(params.get("properties", {})) == set(kinds[name].params().fields)
    fine_tune = _resolve(schema, {"$ref": "#/components/schemas/FineTuneParamsRequest"})
    assert fine_tune["properties"]["epochs"]["maximum"] == 300


def test_intent_and_article_writes_have_their_bodies(schema: dict) -> None:
    for path in ("/api/v1/bot/intents", "/api/v1/bot/articles"):
        for item_path, method in ((path, "post"), (path + "/{id}", "put"),
                                  (path + "/{id}", "patch")):
            content = schema["paths"][item_path][method]["requestBody"]["content"]
            component = _resolve(schema, content["application/json"]["schema"])
            assert component["properties"], (method, item_path)
    intent = schema["components"]["schemas"]["IntentWriteRequest"]
    assert intent["required"] == ["name"]


def test_predictions_csv_is_declared_as_csv(schema: dict) -> None:
    responses = schema["paths"][JOBS + "/{id}/predictions.csv"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/csv"}


def test_unknown_job_parameters_are_refused_naming_them(acme: TenantSetup) -> None:
    response = acme.api().post(JOBS, {"app": "finance_sentiment", "kind": "score_documents",
                                      "params": {"batch_size": 8, "zzz": 1, "epoch": 3}},
                               format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"params.zzz", "params.epoch"}
    assert "batch_size" in fields["params.zzz"][0]
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()


def test_unknown_parameters_of_a_following_train_job_are_refused(acme: TenantSetup) -> None:
    response = acme.api().post(JOBS, {"app": "recommendation", "kind": "embed_items",
                                      "params": {"then_train": {"factorz": 3}}}, format="json")
    assert response.status_code == 400, response.content
    assert "factorz" in response.json()["error"]["fields"]["params.then_train"][0]


def test_a_choice_error_lists_the_choices(acme: TenantSetup) -> None:
    response = acme.api().post(JOBS, {"app": "finance_sentiment", "kind": "score_documents",
                                      "params": {"selection": "zzz"}}, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["fields"]["params.selection"][0]
    assert message == '"zzz" is not a valid choice; choose one of: unscored, range, dataset.'


def test_blank_url_label_and_reply_kind_are_served_as_null(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        Document.objects.create(source="api", external_id="d1", published_at="2024-01-01T00:00Z",
                                title="No link")
        conversation = bot_services.conversation_start(channel=Conversation.Channel.API)
        Message.objects.create(conversation=conversation, role=Message.Role.USER, text="hi")
    document = acme.api().get("/api/v1/finance/documents").json()["results"][0]
    assert (document["url"], document["label"]) == (None, None)
    detail = acme.api().get(f"/api/v1/bot/conversations/{conversation.pk}").json()
    assert detail["messages"][0]["reply_kind"] is None


def test_an_error_is_served_as_the_schema_declares_it(acme: TenantSetup, schema: dict) -> None:
    body = acme.api().get(f"{JOBS}/123456").json()["error"]
    declared = schema["components"]["schemas"]["ErrorBody"]
    assert set(declared["required"]) <= set(body) <= set(declared["properties"])


def _numbers(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    if schema.get("type") in ("integer", "number"):
        found.append(schema)
    return found


def test_every_number_an_operation_takes_has_its_bounds(schema: dict) -> None:
    unbounded = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                for number in _numbers(parameter["schema"]):
                    if "minimum" not in number or "maximum" not in number:
                        unbounded.append(f"{method} {path} {parameter['name']}")
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            for prop, prop_schema in component.get("properties", {}).items():
                for number in _numbers(prop_schema):
                    if "minimum" not in number or "maximum" not in number:
                        unbounded.append(f"{name}.{prop}")
    assert not unbounded
