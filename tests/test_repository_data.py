"""A fresh clone has everything it needs: the datasets ship in data/, and nothing reads beside
the repository (a user's clone has no ``../shared``)."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
# What the demo, the default models, the tests and the benchmarks open.
USED_FILES = [
    "banking77/train.csv", "banking77/test.csv", "banking77/categories.json",
    "hwu64/train.csv", "hwu64/valid.csv", "hwu64/test.csv",
    "twitter_fin_sentiment/sent_train.csv", "twitter_fin_sentiment/sent_valid.csv",
    "twitter_fin_topic/topic_train.csv", "twitter_fin_topic/topic_valid.csv",
    "twitter_fin_topic/labels.json",
    "goodbooks10k/books.csv", "goodbooks10k/book_genres.csv", "goodbooks10k/ratings_random.csv",
]
# A path that leaves the repository for a sibling folder.
OUTSIDE = re.compile(r"\.\./shared\b|/ *\"shared\"")


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", *patterns],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return [ROOT / name for name in listed.split() if (ROOT / name).is_file()]


def test_the_datasets_dir_is_inside_the_repository() -> None:
    assert Path(settings.DATASETS_DIR).resolve() == ROOT / "data"
    for name in USED_FILES:
        assert (ROOT / "data" / name).stat().st_size > 0, name
    for folder in {name.split("/")[0] for name in USED_FILES}:
        assert (ROOT / "data" / folder / "SOURCE.md").read_text().strip(), folder


def test_the_trimmed_goodbooks_files_keep_every_row_and_the_columns_read() -> None:
    with (ROOT / "data" / "goodbooks10k" / "books.csv").open(newline="", encoding="utf-8") as f:
        books = list(csv.DictReader(f))
    assert len(books) == 10_000
    assert set(books[0]) >= {"book_id", "title", "authors", "original_publication_year"}
    assert books[0]["title"] == "The Hunger Games (The Hunger Games, #1)"


def test_nothing_reads_beside_the_repository() -> None:
    code = _tracked("*.py", "Makefile", ".ci/*", "*.toml", "*.cfg", "*.sh", "*.yaml", "*.yml")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in code if path.name != Path(__file__).name
                 for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert not offenders, offenders
