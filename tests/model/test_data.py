"""Loading labelled CSVs and normalising how texts end."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.data import DataError, load_labelled_csv, normalise_ending
from model.train import Params, augment, file_weights
from tests.model.conftest import write_csv


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Great lamp. Works well and the cord is lon", "Great lamp."),
        ("Love it! Would buy again", "Love it!"),
        ('He said "wow" and the', 'He said "wow"'),
        ("fine (really) but", "fine (really)"),
        ("I don't kno", "I don't kno"),  # an apostrophe inside a word ends nothing
        ("no terminator at all", "no terminator at all"),
        ("Finished.", "Finished."),
        ("", ""),
    ],
)
def test_normalise_ending(text: str, expected: str) -> None:
    assert normalise_ending(text) == expected


def test_load_ignores_extra_columns_and_drops_duplicates(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "d.csv", [("a b", "fake"), ("a b", "fake"), ("c", "Genuine")], extra=True
    )
    data = load_labelled_csv(path)
    assert data.texts == ("a b", "c")
    assert data.labels == (1, 0)
    assert data.duplicates_dropped == 1
    assert data.folds is None
    assert len(data.sha256) == 64


def test_load_rejects_unknown_labels_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label"):
        load_labelled_csv(write_csv(tmp_path / "bad.csv", [("a", "spam")]))
    other = tmp_path / "other.csv"
    other.write_text("body,label\nx,fake\n", encoding="utf-8")
    with pytest.raises(DataError, match="columns"):
        load_labelled_csv(other)


def test_augment_adds_only_changed_endings() -> None:
    texts, labels, groups = augment(["Done. and then", "Complete."], [1, 0], Params())
    assert texts == ["Done. and then", "Complete.", "Done."]
    assert labels == [1, 0, 1]
    assert groups == [0, 1, 0]


def test_file_weights_balance_files() -> None:
    weights = file_weights([3, 1], Params(balance_files=True))
    assert sum(weights[:3]) == pytest.approx(sum(weights[3:]))
    assert file_weights([3, 1], Params(balance_files=False)) == [1.0] * 4
