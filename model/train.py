"""Training: TF-IDF word and character n-grams, logistic regression, Platt calibration, CV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from model.data import LabelledFile, normalise_ending
from model.metrics import binary_metrics
from model.text_features import CharAnalyzer, WordAnalyzer

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Params:
    """Every choice of the model; fixed up front, never tuned on the figures reported."""

    word_ngram_min: int = 1
    word_ngram_max: int = 2
    word_max_features: int = 30_000
    char_ngram_min: int = 1
    char_ngram_max: int = 5
    char_max_features: int = 60_000
    min_df: int = 2
    C: float = 16.0
    # Also train on every text with its unfinished last sentence removed, so that how a text
    # ends (a generator's length cut-off) cannot carry the decision.
    augment_endings: bool = True
    # Weigh every training file equally in total, so a small corpus is not drowned by a big one.
    balance_files: bool = True
    calibration_folds: int = 3
    cv_folds: int = 5
    seed: int = 0
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Block:
    """One TF-IDF block: vocabulary (feature name -> column) and idf per column."""

    kind: str  # "word" or "char"
    ngram_min: int
    ngram_max: int
    vocabulary: dict[str, int]
    idf: FloatArray


@dataclass(frozen=True)
class TextPipeline:
    """The trained model in plain arrays: what export.py turns into ONNX."""

    blocks: tuple[Block, ...]
    coef: tuple[FloatArray, ...]  # one weight vector per block
    intercept: float
    platt_a: float  # P(fake) = 1 / (1 + exp(-(platt_a * decision + platt_b)))
    platt_b: float
    params: Params
    train_prior: float
    n_train: int
    extra: dict[str, Any] = field(default_factory=dict)

    def decision(self, texts: Sequence[str]) -> FloatArray:
        score = np.full(len(texts), self.intercept, dtype=np.float64)
        for block, coef in zip(self.blocks, self.coef, strict=True):
            score += tfidf(block, texts) @ coef
        return score

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        z = self.platt_a * self.decision(texts) + self.platt_b
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def _as_float32(values: FloatArray) -> FloatArray:
    """Round to float32 precision: the ONNX file stores weights as float32, and both agree."""
    return values.astype(np.float32).astype(np.float64)


def _analyzer(kind: str, low: int, high: int) -> WordAnalyzer | CharAnalyzer:
    return WordAnalyzer(low, high) if kind == "word" else CharAnalyzer(low, high)


def counts(block: Block, texts: Sequence[str]) -> sp.csr_matrix:
    vec = CountVectorizer(
        analyzer=_analyzer(block.kind, block.ngram_min, block.ngram_max),
        vocabulary=block.vocabulary,
        dtype=np.float64,
    )
    return sp.csr_matrix(vec.transform(texts))


def tfidf(block: Block, texts: Sequence[str]) -> sp.csr_matrix:
    """Sublinear tf (1 + ln tf) times idf, L2-normalised per row: as the ONNX graph computes."""
    x = counts(block, texts)
    x.data = 1.0 + np.log(x.data)
    x = sp.csr_matrix(x.multiply(block.idf[np.newaxis, :]))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


def fit_block(
    kind: str, low: int, high: int, max_features: int, min_df: int, texts: Sequence[str]
) -> Block:
    vec = CountVectorizer(
        analyzer=_analyzer(kind, low, high),
        max_features=max_features,
        min_df=min_df,
        dtype=np.float64,
    )
    x = vec.fit_transform(texts)
    n_docs = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0  # sklearn's smooth idf
    idf = _as_float32(idf)
    # Columns in the order of sorted feature names: the ONNX pool is then deterministic.
    vocabulary = {name: int(col) for name, col in sorted(vec.vocabulary_.items())}
    return Block(kind, low, high, vocabulary, idf)


def augment(
    texts: Sequence[str], labels: Sequence[int], params: Params
) -> tuple[list[str], list[int], list[int]]:
    """Texts plus their ending-normalised copies where different; `groups` ties copies together."""
    out_texts, out_labels, groups = list(texts), list(labels), list(range(len(texts)))
    if params.augment_endings:
        for i, text in enumerate(texts):
            cut = normalise_ending(text)
            if cut != text and cut.strip():
                out_texts.append(cut)
                out_labels.append(labels[i])
                groups.append(i)
    return out_texts, out_labels, groups


def _fit_lr(
    x: sp.csr_matrix, y: npt.NDArray[np.int64], w: FloatArray, params: Params
) -> LogisticRegression:
    lr = LogisticRegression(
        C=params.C, solver="liblinear", random_state=params.seed, max_iter=1000, tol=1e-6
    )
    lr.fit(x, y, sample_weight=w)
    return lr


def file_weights(sizes: Sequence[int], params: Params) -> list[float]:
    """Weight per row, file by file: each file's rows sum to the mean file size when balancing."""
    if not params.balance_files:
        return [1.0] * sum(sizes)
    mean = sum(sizes) / len(sizes)
    return [mean / size for size in sizes for _ in range(size)]


def fit(
    texts: Sequence[str],
    labels: Sequence[int],
    params: Params,
    weights: Sequence[float] | None = None,
) -> TextPipeline:
    """Fit on texts (label 1 = fake); `weights` per text, default 1."""
    aug_texts, aug_labels, groups = augment(texts, labels, params)
    base_w = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = base_w[np.asarray(groups)]
    blocks = (
        fit_block(
            "word",
            params.word_ngram_min,
            params.word_ngram_max,
            params.word_max_features,
            params.min_df,
            aug_texts,
        ),
        fit_block(
            "char",
            params.char_ngram_min,
            params.char_ngram_max,
            params.char_max_features,
            params.min_df,
            aug_texts,
        ),
    )
    x = sp.hstack([tfidf(b, aug_texts) for b in blocks], format="csr")
    y = np.asarray(aug_labels, dtype=np.int64)
    group_arr = np.asarray(groups)

    # Platt scaling on out-of-fold decisions; folds split original texts, copies follow them.
    oof = np.zeros(len(y), dtype=np.float64)
    base_labels = np.asarray(labels, dtype=np.int64)
    folds = StratifiedKFold(params.calibration_folds, shuffle=True, random_state=params.seed)
    for _, held in folds.split(np.zeros(len(base_labels)), base_labels):
        is_held = np.isin(group_arr, held)
        lr = _fit_lr(x[~is_held], y[~is_held], w[~is_held], params)
        oof[is_held] = lr.decision_function(x[is_held])
    platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000, tol=1e-10)
    platt.fit(oof.reshape(-1, 1), y, sample_weight=w)

    lr = _fit_lr(x, y, w, params)
    coef = _as_float32(np.asarray(lr.coef_[0], dtype=np.float64))
    splits = np.cumsum([0] + [len(b.idf) for b in blocks])
    return TextPipeline(
        blocks=blocks,
        coef=tuple(coef[splits[i] : splits[i + 1]] for i in range(len(blocks))),
        intercept=float(lr.intercept_[0]),
        platt_a=float(platt.coef_[0, 0]),
        platt_b=float(platt.intercept_[0]),
        params=params,
        train_prior=float(np.mean(labels)),
        n_train=len(texts),
    )


@dataclass(frozen=True, slots=True)
class CvResult:
    """Out-of-fold P(fake) of one training file, on raw and on ending-normalised texts."""

    name: str
    scheme: str
    labels: FloatArray
    p_raw: FloatArray
    p_normalised: FloatArray

    def metrics(self, threshold: float) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "raw": binary_metrics(self.labels, self.p_raw, threshold),
            "endings_normalised": binary_metrics(self.labels, self.p_normalised, threshold),
        }


def _cv_splits(file: LabelledFile, params: Params) -> tuple[str, list[npt.NDArray[np.int64]]]:
    n = len(file.texts)
    if file.folds is not None:
        folds = np.asarray(file.folds)
        return "by the file's fold column", [
            np.flatnonzero(folds == f) for f in sorted(set(file.folds))
        ]
    skf = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.seed)
    labels = np.asarray(file.labels)
    return f"{params.cv_folds} stratified random folds", [
        np.asarray(held, dtype=np.int64) for _, held in skf.split(np.zeros(n), labels)
    ]


def cross_validate(
    files: Sequence[LabelledFile],
    params: Params,
    log: Any = None,
    only: Sequence[str] | None = None,
    only_folds: Sequence[int] | None = None,
) -> list[CvResult]:
    """Per file: hold out each of its folds, train on the rest of it plus every other file.

    `only` restricts which files are cross-validated; `only_folds` which folds (by position).
    """
    results = []
    for k, file in enumerate(files):
        if only is not None and file.name not in only:
            continue
        others = [f for j, f in enumerate(files) if j != k]
        others_t = [t for f in others for t in f.texts]
        others_y = [y for f in others for y in f.labels]
        scheme, splits = _cv_splits(file, params)
        p_raw = np.zeros(len(file.texts))
        p_norm = np.zeros(len(file.texts))
        for i, held in enumerate(splits):
            if only_folds is not None and i not in only_folds:
                continue
            train_idx = np.setdiff1d(np.arange(len(file.texts)), held)
            pipe = fit(
                [file.texts[j] for j in train_idx] + others_t,
                [file.labels[j] for j in train_idx] + others_y,
                params,
                file_weights([len(train_idx), *(len(f.texts) for f in others)], params),
            )
            held_texts = [file.texts[j] for j in held]
            p_raw[held] = pipe.predict_proba(held_texts)
            p_norm[held] = pipe.predict_proba([normalise_ending(t) for t in held_texts])
            if log:
                log(f"cv {file.name} fold {i + 1}/{len(splits)} done")
        results.append(
            CvResult(file.name, scheme, np.asarray(file.labels, dtype=np.float64), p_raw, p_norm)
        )
    return results
