"""The one row-problem error (``config.problems``) and its API answer (``api.problems``)."""

from __future__ import annotations

from rest_framework.test import APIRequestFactory

from api.errors import exception_handler
from api.problems import problem_fields
from config.problems import MAX_PROBLEMS, Problem, RowsInvalid
from jobs.datasets import DatasetInvalid


def test_a_refusal_keeps_the_first_problems_and_counts_the_rest() -> None:
    error = RowsInvalid([Problem("is required", row, "title") for row in range(25)])
    assert len(error.problems) == MAX_PROBLEMS
    assert error.more == 5
    assert error.code == "invalid_rows"
    assert str(error) == "The rows were refused and nothing was stored: " + "; ".join(
        f"row {row}, column 'title': is required" for row in range(5))


def test_a_dataset_refusal_keeps_its_wording() -> None:
    error = DatasetInvalid([Problem("the file is empty"), Problem("is missing", 0, "text")])
    assert error.code == "invalid_dataset"
    assert str(error) == "the file is empty; row 0, column 'text': is missing"
    assert error.api_message == ("The dataset was refused: the file is empty; row 0, column "
                                 "'text': is missing")


def test_problems_name_request_fields() -> None:
    problems = [Problem("unknown item", 3, "item"), Problem("must be an object", 4),
                Problem("the file is empty"), Problem("bad header", None, "kind")]
    assert problem_fields(problems, prefix="events") == {
        "events[3].item": ["unknown item"], "events[4]": ["must be an object"],
        "file": ["the file is empty"], "kind": ["bad header"]}
    assert problem_fields(problems[:2], prefix=None) == {
        "row 3.item": ["unknown item"], "row 4": ["must be an object"]}


def test_the_api_answers_any_refusal_that_reaches_it() -> None:
    request = APIRequestFactory().post("/")
    response = exception_handler(DatasetInvalid([Problem("is not a number", 2, "score")]),
                                 {"request": request, "view": None})
    assert response is not None
    assert response.status_code == 400
    assert response.data == {"error": {
        "code": "invalid_dataset",
        "message": "The dataset was refused: row 2, column 'score': is not a number",
        "fields": {},
        "problems": [{"row": 2, "column": "score", "message": "is not a number"}],
        "more": 0,
    }}
