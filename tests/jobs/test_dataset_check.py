"""The dataset check before a fine-tune: duplicates, rows shared with validation or test,
class balance, labels with too few examples; refusals where training would be meaningless."""

from __future__ import annotations

from jobs.dataset_check import FEW_EXAMPLES, dataset_check

TRAIN = [(f"text {i}", ("a", "b", "c")[i % 3]) for i in range(60)]
VALIDATION = [(f"val {i}", ("a", "b", "c")[i % 3]) for i in range(9)]
TEST = [(f"test {i}", ("a", "b", "c")[i % 3]) for i in range(9)]


def test_clean_rows_pass_without_warnings() -> None:
    rows, report = dataset_check(train=TRAIN, validation=VALIDATION, test=TEST)
    assert rows == TRAIN
    assert not report.refused
    assert report.warnings == []
    assert report.class_counts == {"a": 20, "b": 20, "c": 20}
    assert (report.train_rows, report.validation_rows, report.test_rows) == (60, 9, 9)


def test_a_validation_set_with_labels_the_training_set_lacks_is_refused() -> None:
    validation = [*VALIDATION, ("val extra", "d"), ("val extra 2", "e")]
    _, report = dataset_check(train=TRAIN, validation=validation, test=TEST)
    assert report.refused
    assert report.refusals == ["the validation set has labels the training rows lack: d, e"]


def test_an_empty_test_set_is_refused() -> None:
    _, report = dataset_check(train=TRAIN, validation=VALIDATION, test=[])
    assert report.refusals == ["the test set is empty"]


def test_every_row_duplicated_in_train_is_deduplicated_with_a_warning() -> None:
    rows, report = dataset_check(train=TRAIN + TRAIN, validation=VALIDATION, test=TEST)
    assert rows == TRAIN
    assert report.duplicates_removed == 60
    assert report.train_rows == 60
    assert not report.refused
    assert any("60 duplicate training rows" in warning for warning in report.warnings)


def test_rows_shared_with_validation_or_test_leave_training() -> None:
    train = [*TRAIN, VALIDATION[0], TEST[1], TEST[2]]
    rows, report = dataset_check(train=train, validation=VALIDATION, test=TEST)
    assert rows == TRAIN
    assert (report.shared_with_validation, report.shared_with_test) == (1, 2)
    assert any("removed from training" in warning for warning in report.warnings)


def test_training_that_is_all_validation_rows_is_refused() -> None:
    _, report = dataset_check(train=VALIDATION, validation=VALIDATION, test=TEST)
    assert report.train_rows == 0
    assert "training needs rows of at least two labels; 0 left after the check" in report.refusals


def test_conflicting_labels_imbalance_and_small_classes_are_warnings() -> None:
    train = [(f"a {i}", "a") for i in range(200)] + [(f"b {i}", "b") for i in range(5)]
    train.append(("a 0", "b"))
    _, report = dataset_check(train=train, validation=[("v", "a"), ("w", "b")],
                              test=[("t", "a")])
    assert not report.refused
    assert report.conflicting_texts == 1
    joined = " ".join(report.warnings)
    assert f"fewer than {FEW_EXAMPLES} training rows: b" in joined
    assert "imbalanced: the largest has 200 rows, the smallest 6" in joined
