"""Scoring by label name (``workers.runtime.evaluation``): the top confusions, and a label
the rows' label set lacks counted as a wrong answer in a column of its own."""

from __future__ import annotations

from workers.runtime.evaluation import evaluate_labels, top_confusions


def test_top_confusions_most_frequent_first() -> None:
    matrix = [[5, 2, 0], [4, 3, 1], [0, 2, 6]]
    assert top_confusions(matrix, ["neg", "neu", "pos"], limit=3) == [
        {"true": "neu", "predicted": "neg", "count": 4},
        {"true": "neg", "predicted": "neu", "count": 2},
        {"true": "pos", "predicted": "neu", "count": 2},
    ]


def test_an_unknown_predicted_label_is_wrong_and_named() -> None:
    figures = evaluate_labels(["a", "a", "b", "b"], ["a", "z", "b", "a"], ["a", "b"])
    assert figures["labels"] == ["a", "b", "z"]
    assert figures["accuracy"] == 0.5
    assert figures["rows"] == 4
    assert figures["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert {"true": "a", "predicted": "z", "count": 1} in figures["top_confusions"]
