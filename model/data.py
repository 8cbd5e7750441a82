"""Labelled review text: loading CSVs, deduplication, ending normalisation, data provenance."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "text"
LABELS = {"fake": 1, "genuine": 0}

# Terms of the shared research sets, by file name; any other file is the user's own data.
KNOWN_TERMS: dict[str, dict[str, str]] = {
    "salminen_subset.csv": {
        "source": "Fake Reviews Dataset, Salminen et al., J. Retailing and Consumer Services 64 "
        "(2022) 102771 (osf.io/tyue9); a random part of an 8,000-row subset",
        "licence": "CC BY 4.0 as stated on the full set's mirrors; genuine half is Amazon review "
        "text collected for research",
        "use": "research / demonstration only",
    },
    "ott_folds1-4.csv": {
        "source": "Deceptive Opinion Spam Corpus v1.4, Ott, Choi, Cardie and Hancock (ACL 2011); "
        "Ott, Cardie and Hancock (NAACL 2013)",
        "licence": "CC BY-NC-SA 3.0 (non-commercial)",
        "use": "research / non-commercial demonstration only",
    },
}

# Sentence-final characters: . ! ? ) or a closing quote (an apostrophe inside a word is no quote).
_TERMINATOR = re.compile(r"[.!?)\"\u201d]|['\u2019](?![^\W\d_])")


class DataError(ValueError):
    """A CSV that is not labelled review text."""


@dataclass(frozen=True, slots=True)
class LabelledFile:
    path: Path
    texts: tuple[str, ...]
    labels: tuple[int, ...]  # 1 = fake, 0 = genuine
    folds: tuple[int, ...] | None  # the file's own `fold` column, when it has one
    sha256: str
    duplicates_dropped: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fake_share(self) -> float:
        return sum(self.labels) / len(self.labels) if self.labels else 0.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalise_ending(text: str) -> str:
    """Drop the unfinished trailing fragment: everything after the last . ! ? ) or quote.

    A text with no such character at all is kept whole (it has no finished sentence to keep).
    """
    end = 0
    for match in _TERMINATOR.finditer(text):
        end = match.end()
    return text[:end] if end else text


def load_labelled_csv(path: Path) -> LabelledFile:
    """Read a CSV with `text` and `label` (fake/genuine); extra columns are ignored except `fold`.

    Exact duplicate (text, label) rows are dropped, keeping the first.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {"text", "label"} <= columns:
            raise DataError(f"{path}: needs columns text and label, has {sorted(columns)}")
        has_fold = "fold" in columns
        seen: set[tuple[str, str]] = set()
        texts: list[str] = []
        labels: list[int] = []
        folds: list[int] = []
        dropped = 0
        for line, row in enumerate(reader, start=2):
            text, label = row["text"] or "", (row["label"] or "").strip().lower()
            if label not in LABELS:
                raise DataError(f"{path}:{line}: label must be fake or genuine, not {label!r}")
            if (text, label) in seen:
                dropped += 1
                continue
            seen.add((text, label))
            texts.append(text)
            labels.append(LABELS[label])
            if has_fold:
                folds.append(int(row["fold"]))
    if not texts:
        raise DataError(f"{path}: no rows")
    return LabelledFile(
        path=path,
        texts=tuple(texts),
        labels=tuple(labels),
        folds=tuple(folds) if has_fold else None,
        sha256=sha256_file(path),
        duplicates_dropped=dropped,
    )


def default_training_files(data_dir: Path = DEFAULT_DATA_DIR) -> list[Path]:
    return sorted(data_dir.glob("*.csv"))


def terms_of(files: Sequence[LabelledFile]) -> dict[str, dict[str, str]]:
    unknown = {
        "source": "supplied by the user",
        "licence": "unknown: check the terms of this data before any use",
        "use": "as the data's owner permits",
    }
    return {f.name: KNOWN_TERMS.get(f.name, unknown) for f in files}
