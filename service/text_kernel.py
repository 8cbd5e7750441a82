"""The text model's ONNX graph evaluated directly: its own vocabulary, weights and arithmetic.

`model/export.py` builds one graph shape: ASCII lowercasing, then per block a Tokenizer (words by a
regular expression, or every code point), n-grams, a LabelEncoder from n-gram to column, sublinear
tf x idf, L2 norm and a dot product with the weights; the blocks' scores plus the intercept go
through Platt scaling and a sigmoid. onnxruntime runs it on string tensors (one std::string per
n-gram and a hash look-up each). This module reads that same graph - vocabularies and weights come
out of the ONNX file, which stays the single source of truth - and gives every n-gram occurrence of
a text an integer feature id with a few numpy operations:

- characters: code points become digits 1..K (the K characters of the char vocabulary; A-Z fold
  onto a-z as StringNormalizer does; 0 for any other), and a trie of the vocabulary turns the
  n-grams of length n at every position into those of length n + 1 with one addition and one
  gather. Exact: no hashing, no collisions.
- words: one `bytes.translate` (lowercase A-Z, every byte outside the token class becomes a space)
  and `split` give the tokens of the ASCII class pattern (what RE2 finds), a dict gives each word's
  index, and word n-grams are exact base-(words + 1) integers found by binary search.

Then one sort counts the occurrences of each feature, and per block: tf = 1 + ln(count),
w = tf x idf, score = sum(w x coef) / sqrt(sum(w**2)) (norm 1 when nothing is known).

When service/native/textkernel.c is built, `block_scores` and `predict` run it instead: one C
call per text over these same arrays (views, no copies), the numpy path staying the reference
and the fallback (`block_scores_numpy`, `predict_numpy`; REVIEWGUARD_NATIVE=0 turns C off). It
sums in another order: the two agree within ~1e-15 (1e-12 in tests/unit/test_native_textkernel.py).

`TextKernel.from_model` accepts only that graph, node for node (operators, wiring, every fixed
attribute and constant), and raises `UnsupportedGraphError` saying what differs otherwise, so a
model exported some other way keeps running on onnxruntime. Scores equal onnxruntime's up to
rounding (sums per distinct n-gram instead of per occurrence, in another order): differences of
about 1e-15, held under 1e-9 by the tests and by the check `service.text_model` runs at start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.native import load

# service/native/textkernel.c: block_scores and predict of one text in one call (None: numpy)
_NATIVE = load("textkernel")

INPUT_NAME = "text"
OUTPUT_NAME = "p_fake"
# Opset versions whose operators, as used here, all mean what the evaluation below computes.
_OPSETS = {"": range(20, 24), "ai.onnx.ml": range(2, 6), "com.microsoft": range(1, 2)}
# Every code point Python can hold (lone surrogates are replaced by "?" before the look-up).
_CODE_POINTS = 0x110000
# Sublinear tf = 1 + ln(count) by count, as (tf**2, tf); no count of a text with fewer n-grams
# than this reaches the end of the table.
_TF = np.concatenate([[np.nan], np.log(np.arange(1, 1 << 16, dtype=np.float64)) + 1.0])
_TF2 = np.stack([_TF * _TF, _TF], axis=1)
# The only word patterns accepted: one class of ASCII letters, digits and ranges of them, repeated.
# Python and RE2 (leftmost-longest, as the Tokenizer runs it) split a text into the same runs.
_SAFE_TOKENEXP = re.compile(r"\[(?:[A-Za-z0-9](?:-[A-Za-z0-9])?)+\]\+")

Codes = npt.NDArray[np.uint8] | npt.NDArray[np.uint32]


class UnsupportedGraphError(ValueError):
    """The ONNX graph is not the shape this kernel evaluates (onnxruntime must run it)."""


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """StringNormalizer(LOWER, locale "C"): A-Z become a-z, every other code point stays."""
    return text.translate(_ASCII_LOWER)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# ---------------------------------------------------------------------------------------------
# Recognising the graph


class _Any:
    """An attribute whose value is a parameter of the model, read separately."""

    def __repr__(self) -> str:
        return "<parameter>"


PARAMETER = _Any()

_Node = tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, Any]]


def _tensor_key(array: npt.NDArray[Any]) -> tuple[str, tuple[int, ...], tuple[Any, ...]]:
    return (array.dtype.str, tuple(array.shape), tuple(array.ravel().tolist()))


def _attribute(attr: onnx.AttributeProto) -> Any:
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, TensorProto):
        return _tensor_key(numpy_helper.to_array(value))
    if isinstance(value, list):
        if value and all(isinstance(v, bytes) for v in value):
            return tuple(map(bytes.decode, value))  # UTF-8; a vocabulary is long
        return tuple(value)
    return value


def _actual(node: onnx.NodeProto) -> _Node:
    try:
        attrs = {a.name: _attribute(a) for a in node.attribute}
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise UnsupportedGraphError(f"{node.op_type} node: unreadable attribute ({exc})") from exc
    domain = "" if node.domain == "ai.onnx" else node.domain
    return (node.op_type, domain, tuple(node.input), tuple(node.output), attrs)


def _n(
    op: str, inputs: Sequence[str], outputs: Sequence[str], domain: str = "", **attrs: Any
) -> _Node:
    return (op, domain, tuple(inputs), tuple(outputs), attrs)


def _const(value: float, dtype: type[np.generic]) -> tuple[str, tuple[int, ...], tuple[Any, ...]]:
    return _tensor_key(np.array([value], dtype=dtype))


def _prelude() -> list[_Node]:
    return [
        _n("Shape", [INPUT_NAME], ["n_rows"]),
        _n("Squeeze", ["n_rows"], ["n_rows_scalar"]),
        _n("Range", ["zero_i", "n_rows_scalar", "one_i"], ["row_range"]),
        _n("Unsqueeze", ["row_range", "axis1"], ["row_index"]),
        _n("ConstantOfShape", ["n_rows"], ["row_zeros"], value=_const(0.0, np.float64)),
        _n(
            "StringNormalizer",
            [INPUT_NAME],
            ["lowered"],
            case_change_action="LOWER",
            is_case_sensitive=1,
            locale="C",
        ),
    ]


def _block(k: str, split: str, low: int, high: int, join: bool) -> list[_Node]:
    nodes = [
        _n(
            "Tokenizer",
            ["lowered"],
            [f"{k}_tokens"],
            "com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value=PARAMETER,
            **{split: PARAMETER},
        )
    ]
    previous = f"{k}_tokens"
    parts = [previous] if low == 1 else []
    for n in range(2, high + 1):
        nodes += [
            _n("Slice", [previous, "start0", "end_minus1", "axis1"], [f"{k}_h{n}"]),
            _n("Slice", [f"{k}_tokens", f"start{n - 1}", "end_max", "axis1"], [f"{k}_t{n}"]),
        ]
        head = f"{k}_h{n}"
        if join:
            nodes.append(_n("StringConcat", [head, f"{k}_join"], [f"{k}_j{n}"]))
            head = f"{k}_j{n}"
        nodes.append(_n("StringConcat", [head, f"{k}_t{n}"], [f"{k}_g{n}"]))
        previous = f"{k}_g{n}"
        if n >= low:
            parts.append(previous)
    zero32, one32 = _const(0.0, np.float32), _const(1.0, np.float32)
    double = TensorProto.DOUBLE
    return [
        *nodes,
        _n("Concat", parts, [f"{k}_grams"], axis=1),
        _n(
            "LabelEncoder",
            [f"{k}_grams"],
            [f"{k}_col_all"],
            "ai.onnx.ml",
            keys_strings=PARAMETER,
            values_int64s=PARAMETER,
            default_int64=-1,
        ),
        _n("Mul", ["row_index", f"{k}_size"], [f"{k}_row_base"]),
        _n("Add", [f"{k}_row_base", f"{k}_col_all"], [f"{k}_key_all"]),
        _n("GreaterOrEqual", [f"{k}_col_all", "zero_i"], [f"{k}_known2d"]),
        _n("Reshape", [f"{k}_key_all", "flat"], [f"{k}_key_flat"]),
        _n("Reshape", [f"{k}_known2d", "flat"], [f"{k}_known"]),
        _n("Compress", [f"{k}_key_flat", f"{k}_known"], [f"{k}_key"], axis=0),
        _n("Mul", ["n_rows", f"{k}_size"], [f"{k}_cells"]),
        _n("ConstantOfShape", [f"{k}_cells"], [f"{k}_zeros"], value=zero32),
        _n("Shape", [f"{k}_key"], [f"{k}_m"]),
        _n("ConstantOfShape", [f"{k}_m"], [f"{k}_ones"], value=one32),
        _n(
            "ScatterElements",
            [f"{k}_zeros", f"{k}_key", f"{k}_ones"],
            [f"{k}_counts"],
            axis=0,
            reduction="add",
        ),
        _n("Gather", [f"{k}_counts", f"{k}_key"], [f"{k}_c_f"], axis=0),
        _n("Div", [f"{k}_key", f"{k}_size"], [f"{k}_rows"]),
        _n("Mod", [f"{k}_key", f"{k}_size"], [f"{k}_cols"]),
        _n("Cast", [f"{k}_c_f"], [f"{k}_c"], to=double),
        _n("Log", [f"{k}_c"], [f"{k}_log"]),
        _n("Add", [f"{k}_log", "one"], [f"{k}_tf"]),
        _n("Gather", [f"{k}_idf", f"{k}_cols"], [f"{k}_idf_f"], axis=0),
        _n("Cast", [f"{k}_idf_f"], [f"{k}_idf_c"], to=double),
        _n("Gather", [f"{k}_coef", f"{k}_cols"], [f"{k}_coef_f"], axis=0),
        _n("Cast", [f"{k}_coef_f"], [f"{k}_coef_c"], to=double),
        _n("Mul", [f"{k}_tf", f"{k}_idf_c"], [f"{k}_w"]),
        _n("Div", [f"{k}_w", f"{k}_c"], [f"{k}_w_share"]),
        _n("Mul", [f"{k}_w", f"{k}_w_share"], [f"{k}_w2"]),
        _n("Mul", [f"{k}_w_share", f"{k}_coef_c"], [f"{k}_wc"]),
        _n(
            "ScatterElements",
            ["row_zeros", f"{k}_rows", f"{k}_w2"],
            [f"{k}_sq"],
            axis=0,
            reduction="add",
        ),
        _n(
            "ScatterElements",
            ["row_zeros", f"{k}_rows", f"{k}_wc"],
            [f"{k}_dot"],
            axis=0,
            reduction="add",
        ),
        _n("Sqrt", [f"{k}_sq"], [f"{k}_norm0"]),
        _n("Equal", [f"{k}_norm0", "zero"], [f"{k}_isnull"]),
        _n("Where", [f"{k}_isnull", "one", f"{k}_norm0"], [f"{k}_norm"]),
        _n("Div", [f"{k}_dot", f"{k}_norm"], [f"{k}_score"]),
    ]


def _tail(scores: Sequence[str]) -> list[_Node]:
    return [
        _n("Sum", [*scores, "intercept"], ["decision"]),
        _n("Mul", ["decision", "platt_a"], ["z0"]),
        _n("Add", ["z0", "platt_b"], ["z"]),
        _n("Sigmoid", ["z"], [OUTPUT_NAME]),
    ]


def _same(expected: _Node, actual: _Node) -> bool:
    if expected[:4] != actual[:4] or set(expected[4]) != set(actual[4]):
        return False
    return all(v is PARAMETER or actual[4][k] == v for k, v in expected[4].items())


def _show(node: _Node) -> str:
    attrs = {k: (v if len(repr(v)) < 60 else "...") for k, v in node[4].items()}
    return f"{node[0]}({', '.join(node[2])}) -> {', '.join(node[3])} {attrs}"


@dataclass(frozen=True, slots=True)
class _BlockSpec:
    name: str
    split: str  # "tokenexp" or "separators"
    low: int
    high: int
    join: bool


def _block_specs(nodes: Sequence[_Node], initializers: set[str]) -> list[_BlockSpec]:
    """The blocks the graph declares: one Tokenizer of `lowered` each, its n-grams from a Concat."""
    specs = []
    concat = {n[3][0]: n[2] for n in nodes if n[0] == "Concat" and len(n[3]) == 1}
    for node in nodes:
        if node[0] != "Tokenizer":
            continue
        if len(node[3]) != 1 or not node[3][0].endswith("_tokens"):
            raise UnsupportedGraphError(f"unexpected Tokenizer: {_show(node)}")
        k = node[3][0].removesuffix("_tokens")
        splits = [a for a in ("tokenexp", "separators") if a in node[4]]
        parts = concat.get(f"{k}_grams")
        if len(splits) != 1 or not parts:
            raise UnsupportedGraphError(f"block {k!r}: no n-gram Concat or no single split rule")
        try:
            grams = [1 if p == f"{k}_tokens" else int(p.removeprefix(f"{k}_g")) for p in parts]
        except ValueError as exc:
            raise UnsupportedGraphError(f"block {k!r}: n-gram inputs {parts}") from exc
        if min(grams) < 1 or grams != list(range(grams[0], grams[0] + len(grams))):
            raise UnsupportedGraphError(f"block {k!r}: n-gram sizes {grams} are not a range")
        specs.append(
            _BlockSpec(k, splits[0], grams[0], grams[-1], join=f"{k}_join" in initializers)
        )
    if not specs:
        raise UnsupportedGraphError("no Tokenizer node: not a reviewguard text graph")
    return specs


# ---------------------------------------------------------------------------------------------
# Evaluating it


@dataclass(frozen=True, slots=True)
class _BlockParams:
    """One block as the graph defines it."""

    name: str
    tokenexp: str | None  # None: every code point is a token
    low: int
    high: int
    join: str
    vocab: dict[str, int]  # n-gram -> column
    idf: npt.NDArray[np.float32]
    coef: npt.NDArray[np.float32]

    def alphabet(self) -> list[str]:
        """The characters of the n-grams a char block can meet (others can never occur)."""
        return sorted({c for k in self.vocab if self.low <= len(k) <= self.high for c in k})

    def frequent_first(self, grams: list[str]) -> list[str]:
        """Entries (and prefixes) by idf, lowest (most frequent) first, then by text.

        Ids, tables and dicts built in this order keep the n-grams most texts have close
        together in memory, so they tend to stay in cache from one review to the next.
        """
        idf = self.idf
        rank = {g: float(idf[self.vocab[g]]) if g in self.vocab else math.inf for g in grams}
        return sorted(grams, key=lambda g: (rank[g], g))


class _Chars:
    """Char n-grams -> feature id x stride, through a trie of the block's vocabulary.

    Trie nodes are the prefixes of the vocabulary's entries; node 0 is the dead node (anything
    unknown). Row i of `table` holds, per digit, the id x stride of node i's child, so the values
    for length n + 1 are table[value(length n) + digit]. Nodes that can be extended come first, so
    only they take a row.
    """

    def __init__(self, p: _BlockParams, stride: int, offset: int) -> None:
        if offset:
            raise UnsupportedGraphError("more than one char block")  # its ids must start at 0
        self.low, self.high = p.low, p.high
        alphabet = p.frequent_first(p.alphabet())
        # intp, so no conversion before the additions; only the pages of the code points that
        # are set (ASCII for the default model) are ever touched, the rest stays unallocated.
        digits = np.zeros(_CODE_POINTS, dtype=np.intp)
        digits[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        for upper in range(ord("A"), ord("Z") + 1):  # StringNormalizer's lowering, folded in
            digits[upper] = digits[upper + 32]
        self._digits = digits
        keys = [k for k in p.vocab if p.low <= len(k) <= p.high]
        prefixes = {k[:n] for n in range(1, p.high + 1) for k in keys}
        inner = p.frequent_first([x for x in prefixes if len(x) < p.high])
        ordered = ["", *inner, *p.frequent_first([x for x in prefixes if len(x) == p.high])]
        self.size = len(ordered)
        node = dict(zip(ordered, range(self.size), strict=True))
        children = ordered[1:]
        parent = np.array([node[x[:-1]] for x in children], dtype=np.int64)
        last = digits[[ord(x[-1]) for x in children]]
        value = np.arange(1, self.size, dtype=np.int64) * stride
        top = parent == 0
        self._first = np.zeros(stride, dtype=np.int32)
        self._first[last[top]] = value[top]
        self._table = np.zeros((len(inner) + 1) * stride, dtype=np.int32)
        self._table[parent[~top] * stride + last[~top]] = value[~top]
        self.ids = np.array([node[k] for k in keys], dtype=np.intp)  # of the vocabulary entries
        self.columns = np.array([p.vocab[k] for k in keys], dtype=np.intp)

    def values(self, raw: bytes, codes: Codes, out: list[npt.NDArray[Any]]) -> None:
        """Appends the value of every char n-gram (low..high) of the text's code points."""
        digits = self._digits.take(codes)
        grams = self._first.take(digits)
        if self.low == 1:
            out.append(grams)
        for n in range(2, self.high + 1):
            grams = self._table.take(grams[:-1] + digits[n - 1 :])
            if n >= self.low:
                out.append(grams)


class _Words:
    """Word n-grams -> feature id x stride: tokens by bytes.translate + split, words by a dict.

    Each word of the vocabulary has an index 1..W (0: any other token). Unigrams map through an
    array; an n-gram of n >= 2 is the exact integer of its word indices in base W + 1, found by
    binary search among the vocabulary's (sorted) n-gram integers.
    """

    def __init__(self, p: _BlockParams, stride: int, offset: int) -> None:
        assert p.tokenexp is not None
        if not _SAFE_TOKENEXP.fullmatch(p.tokenexp):
            raise UnsupportedGraphError(
                f"word pattern {p.tokenexp!r}: only one ASCII character class repeated (like "
                "[a-z0-9]+) is known to split the same in Python as in RE2"
            )
        cls = re.compile(p.tokenexp[:-1])
        # UTF-8 bytes -> lowered token bytes; every other byte (all of non-ASCII) -> a space.
        table = bytearray(b" " * 256)
        for b in range(128):
            lowered = ascii_lower(chr(b))
            if cls.fullmatch(lowered):
                table[b] = ord(lowered)
        self._translation = bytes(table)
        token = "[" + "".join(re.escape(chr(b)) for b in sorted(set(table) - {32})) + "]+"
        if p.high > 1 and (not p.join or re.search(token, p.join)):
            raise UnsupportedGraphError(
                f"word n-grams joined by {p.join!r}: the join must be non-empty and outside the "
                "token class, or an n-gram would not tell its words apart"
            )
        entry = re.compile(token + f"(?:{re.escape(p.join)}{token})*" if p.join else token)

        def words_of(key: str) -> list[str]:
            return key.split(p.join) if p.join else [key]

        self.low, self.high = p.low, p.high
        # Entries a text can form, most frequent first (see frequent_first); their ids follow.
        order = [
            k
            for k in p.frequent_first([k for k in p.vocab if entry.fullmatch(k)])
            if p.low <= len(words_of(k)) <= p.high
        ]
        self.size = 1 + len(order)
        self.ids = np.arange(1, self.size, dtype=np.intp)
        self.columns = np.array([p.vocab[k] for k in order], dtype=np.intp)
        value = [(offset + i) * stride for i in range(1, self.size)]
        dead = offset * stride
        index: dict[str, int] = {}
        for k in order:
            for w in words_of(k):
                index.setdefault(w, len(index) + 1)
        base = len(index) + 1
        # ufunc operands as arrays: numpy's Python-scalar handling costs more than the arithmetic
        self._base = np.array(base, dtype=np.int64)
        if base**p.high >= 2**63:
            raise UnsupportedGraphError(f"{len(index)} words: {p.high}-grams overflow 64 bits")
        self._index = {w.encode("ascii"): i for w, i in index.items()}
        self._unigrams = np.full(base, dead, dtype=np.int32)
        grams: dict[int, list[tuple[int, int]]] = {n: [] for n in range(2, p.high + 1)}
        for k, v in zip(order, value, strict=True):
            parts = [index[w] for w in words_of(k)]
            if len(parts) == 1:
                self._unigrams[parts[0]] = v
            else:
                key = 0
                for i in parts:
                    key = key * base + i
                grams[len(parts)].append((key, v))
        # n -> the vocabulary's n-gram integers, sorted, and their values, between two sentinels:
        # a search lands on 1..len, and a miss, sent to position 0, reads the dead value
        self._grams: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]] = {}
        for n, pairs in grams.items():
            if pairs:
                pairs.sort()
                keys, values = zip(*pairs, strict=True)
                self._grams[n] = (
                    np.array([-1, *keys, 2**63 - 1], dtype=np.int64),
                    np.array([dead, *values, dead], dtype=np.int32),
                )

    def values(self, raw: bytes, codes: Codes, out: list[npt.NDArray[Any]]) -> None:
        """Appends the value of every word n-gram (low..high) of the text's UTF-8 `raw`."""
        tokens = raw.translate(self._translation).split()
        if not tokens:
            return
        words = np.array(list(map(self._index.get, tokens, repeat(0))), dtype=np.int64)
        if self.low == 1:
            out.append(self._unigrams.take(words))
        grams = words
        for n in range(2, self.high + 1):
            grams = grams[:-1] * self._base
            grams += words[n - 1 :]
            if grams.size == 0:
                break
            if n in self._grams:
                keys, values = self._grams[n]
                wanted = np.sort(grams)  # in order, the binary searches share their paths
                at = keys.searchsorted(wanted)
                at *= keys.take(at) == wanted
                out.append(values.take(at))


@dataclass(frozen=True, slots=True)
class _Calibration:
    intercept: float
    platt_a: float
    platt_b: float


class TextKernel:
    """P(fake | text) of one recognised ONNX text graph, computed without onnxruntime.

    Feature ids of all blocks share one space (the char block's from 0, then each word block's),
    each block's first id being its dead feature (zero weights), and the extractors hand over
    id x stride. Every text also counts each block's dead feature once, so no block is empty.
    """

    def __init__(self, blocks: Sequence[_BlockParams], calibration: _Calibration) -> None:
        # Id space order: the char block (at most one), then the word blocks.
        ordered = sorted(blocks, key=lambda b: b.tokenexp is not None)
        stride = self._stride = max(
            [len(b.alphabet()) + 1 for b in blocks if b.tokenexp is None], default=1
        )
        extractors: list[_Chars | _Words] = []
        starts: list[int] = []
        for b in ordered:
            offset = sum(x.size for x in extractors)
            extractors.append((_Chars if b.tokenexp is None else _Words)(b, stride, offset))
            starts.append(offset)
        total = sum(x.size for x in extractors)
        if total * stride >= 2**31 - 1:
            raise UnsupportedGraphError(f"{total} features x {stride} overflow int32")
        # Per feature, side by side (one cache line): idf**2 and idf x coef, in float64.
        weights = np.zeros((total, 2), dtype=np.float64)
        for b, x, start in zip(ordered, extractors, starts, strict=True):
            idf = b.idf[x.columns].astype(np.float64)
            weights[start + x.ids, 0] = idf * idf
            weights[start + x.ids, 1] = idf * b.coef[x.columns].astype(np.float64)
        self._weights = weights
        self._stride_array = np.array(stride, dtype=np.int32)
        self._extractors = tuple(extractors)
        self._starts = np.array(starts, dtype=np.int64)
        # Sorting puts these first and last: every run of equal values then has a start and end.
        self._edges = (
            np.array([-1, *(s * stride for s in starts)], dtype=np.int32),
            np.array([2**31 - 1], dtype=np.int32),
        )
        # the blocks' scores are summed in the graph's order
        self._order = [ordered.index(b) for b in blocks]
        self._calibration = calibration
        self._native = self._native_kernel()

    def native_arguments(self) -> dict[str, Any]:
        """What service/native/textkernel.c's Kernel is built from: these very arrays."""
        chars: tuple[Any, ...] | None = None
        words: list[tuple[Any, ...]] = []
        for x in self._extractors:
            if isinstance(x, _Chars):
                chars = (x.low, x.high, x._digits, x._first, x._table)
            else:
                dead = int(x._unigrams[0])  # word index 0: any unknown token
                table = (x._translation, x._index, int(x._base), x._unigrams, x._grams)
                words.append((x.low, x.high, dead, *table))
        c = self._calibration
        return {
            "stride": self._stride,
            "weights": self._weights,
            "tf2": _TF2,
            "order": self._order,
            "intercept": c.intercept,
            "platt_a": c.platt_a,
            "platt_b": c.platt_b,
            "chars": chars,
            "words": words,
        }

    def _native_kernel(self) -> Any:
        """The C kernel over these arrays, or None (no module, or arrays it refuses: numpy)."""
        if _NATIVE is None:
            return None
        try:
            return _NATIVE.Kernel(**self.native_arguments())
        except (ValueError, TypeError, OverflowError):
            return None

    @property
    def native(self) -> bool:
        """Whether block_scores and predict run in C (service/native/textkernel.c)."""
        return self._native is not None

    @classmethod
    def load(cls, onnx_path: Path) -> TextKernel:
        try:
            data = onnx_path.read_bytes()
        except OSError as exc:
            raise UnsupportedGraphError(f"cannot read {onnx_path}: {exc}") from exc
        return cls.from_bytes(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> TextKernel:
        try:
            model = onnx.load_from_string(data)
        except Exception as exc:  # protobuf's DecodeError and the like
            raise UnsupportedGraphError(f"not an ONNX model: {exc}") from exc
        return cls.from_model(model)

    @classmethod
    def from_model(cls, model: onnx.ModelProto) -> TextKernel:
        blocks, calibration = _read(model)
        return cls(blocks, calibration)

    def block_scores(self, text: str) -> list[float]:
        """Each block's score (dot product over norm), in id-space order."""
        if self._native is not None:
            return list(self._native.block_scores(text))
        return self.block_scores_numpy(text)

    def block_scores_numpy(self, text: str) -> list[float]:
        """block_scores with numpy: the reference of the C path, and its fallback."""
        # What onnxruntime is given: UTF-8, lone surrogates replaced by "?" (utf-32 does the same).
        raw = text.encode("utf-8", "replace")
        codes: Codes = (
            np.frombuffer(raw, dtype=np.uint8)
            if len(raw) == len(text)  # ASCII: the bytes are the code points
            else np.frombuffer(text.encode("utf-32-le", "replace"), dtype=np.uint32)
        )
        low, high = self._edges
        parts: list[npt.NDArray[Any]] = [low]
        for x in self._extractors:
            x.values(raw, codes, parts)
        parts.append(high)
        values = np.concatenate(parts)
        values.sort()
        # Runs of equal values: starts[i] is where run i begins in values[1:]; the last one is
        # the upper edge's.
        starts = (values[1:] != values[:-1]).nonzero()[0]
        counts = starts[1:] - starts[:-1]
        ids = values[1:].take(starts[:-1])
        if self._stride > 1:
            ids //= self._stride_array
        if values.size < _TF.size:
            tf = _TF2.take(counts, axis=0)
        else:
            tf1 = np.log(counts) + 1.0
            tf = np.stack([tf1 * tf1, tf1], axis=1)
        # tf**2 x idf**2 and tf x idf x coef per distinct feature
        terms = self._weights.take(ids, axis=0)
        terms *= tf
        sums = np.add.reduceat(terms, ids.searchsorted(self._starts), axis=0).tolist()
        return [dot / (math.sqrt(sq) or 1.0) for sq, dot in sums]

    def predict(self, text: str) -> float:
        if self._native is not None:
            return float(self._native.predict(text))
        return self.predict_numpy(text)

    def predict_numpy(self, text: str) -> float:
        """predict with numpy: the reference of the C path, and its fallback."""
        scores = self.block_scores_numpy(text)
        decision = scores[self._order[0]]
        for i in self._order[1:]:
            decision += scores[i]
        c = self._calibration
        return _sigmoid((decision + c.intercept) * c.platt_a + c.platt_b)

    def predict_many(self, texts: Sequence[str]) -> list[float]:
        return [self.predict(t) for t in texts]


def _check_signature(model: onnx.ModelProto) -> None:
    graph = model.graph
    for opset in model.opset_import:
        known = _OPSETS.get("" if opset.domain == "ai.onnx" else opset.domain)
        if known is None or opset.version not in known:
            raise UnsupportedGraphError(f"opset {opset.domain or 'ai.onnx'} {opset.version}")
    if len(model.functions) or len(graph.sparse_initializer):
        raise UnsupportedGraphError("graph has functions or sparse initializers")

    def one(values: Sequence[onnx.ValueInfoProto], name: str, dtype: int) -> None:
        if len(values) != 1 or values[0].name != name:
            raise UnsupportedGraphError(f"graph must have one {name!r}, has {len(values)} value(s)")
        tensor = values[0].type.tensor_type
        if tensor.elem_type != dtype or len(tensor.shape.dim) != 1:
            raise UnsupportedGraphError(
                f"{name!r} must be a 1-D {TensorProto.DataType.Name(dtype)}"
            )

    one(graph.input, INPUT_NAME, TensorProto.STRING)
    one(graph.output, OUTPUT_NAME, TensorProto.DOUBLE)


def _check_constants(
    values: dict[str, npt.NDArray[Any]], specs: Sequence[_BlockSpec]
) -> dict[str, npt.NDArray[Any]]:
    """Every initializer: the fixed ones hold export.py's values; returns the parameters."""
    fixed: dict[str, tuple[str, tuple[int, ...], tuple[Any, ...]]] = {
        "zero": _tensor_key(np.array(0.0)),
        "one": _tensor_key(np.array(1.0)),
        "zero_i": _tensor_key(np.array(0, dtype=np.int64)),
        "one_i": _tensor_key(np.array(1, dtype=np.int64)),
        "flat": _tensor_key(np.array([-1], dtype=np.int64)),
        "axis1": _tensor_key(np.array([1], dtype=np.int64)),
        "start0": _tensor_key(np.array([0], dtype=np.int64)),
        "end_minus1": _tensor_key(np.array([-1], dtype=np.int64)),
        "end_max": _tensor_key(np.array([2**62], dtype=np.int64)),
    }
    for n in range(1, max(2, *(s.high for s in specs))):
        fixed[f"start{n}"] = _tensor_key(np.array([n], dtype=np.int64))
    params = {"intercept", "platt_a", "platt_b"}
    for s in specs:
        params |= {f"{s.name}_idf", f"{s.name}_coef", f"{s.name}_size"}
        if s.join:
            params.add(f"{s.name}_join")
    for name, value in values.items():
        if name in fixed:
            if _tensor_key(value) != fixed[name]:
                raise UnsupportedGraphError(f"constant {name!r} is {value!r}, not export.py's")
        elif name not in params:
            raise UnsupportedGraphError(f"unknown initializer {name!r}")
    needed = {n for n in fixed if not re.fullmatch(r"start[1-9]\d*", n)}
    needed |= {f"start{n}" for n in range(1, max(s.high for s in specs))}
    missing = (params | needed) - set(values)
    if missing:
        raise UnsupportedGraphError(f"missing initializers: {sorted(missing)}")
    for name in ("intercept", "platt_a", "platt_b"):
        if values[name].dtype != np.float64 or values[name].shape != (1,):
            raise UnsupportedGraphError(f"{name!r} must be float64 of shape (1,)")
    return {name: values[name] for name in params}


def _read(model: onnx.ModelProto) -> tuple[list[_BlockParams], _Calibration]:
    """The blocks and calibration of a graph of export.py's shape, or UnsupportedGraphError."""
    _check_signature(model)
    graph = model.graph
    try:
        values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    except Exception as exc:  # an initializer onnx cannot decode
        raise UnsupportedGraphError(f"unreadable initializer: {exc}") from exc
    if len(values) != len(graph.initializer):
        raise UnsupportedGraphError("duplicate initializer names")
    nodes = [_actual(node) for node in graph.node]
    specs = _block_specs(nodes, set(values))
    expected = _prelude()
    for s in specs:
        expected += _block(s.name, s.split, s.low, s.high, s.join)
    expected += _tail([f"{s.name}_score" for s in specs])
    if len(expected) != len(nodes):
        raise UnsupportedGraphError(f"{len(nodes)} nodes where this shape has {len(expected)}")
    for i, (want, got) in enumerate(zip(expected, nodes, strict=True)):
        if not _same(want, got):
            raise UnsupportedGraphError(f"node {i}: expected {_show(want)}, found {_show(got)}")
    params = _check_constants(values, specs)
    by_output = {n[3][0]: n for n in nodes}
    blocks = [_block_params(s, by_output, params) for s in specs]
    calibration = _Calibration(
        float(params["intercept"][0]), float(params["platt_a"][0]), float(params["platt_b"][0])
    )
    return blocks, calibration


def _block_params(
    spec: _BlockSpec, by_output: dict[str, _Node], params: dict[str, npt.NDArray[Any]]
) -> _BlockParams:
    k = spec.name
    idf, coef, size = params[f"{k}_idf"], params[f"{k}_coef"], params[f"{k}_size"]
    if size.dtype != np.int64 or size.shape != () or int(size) < 0:
        raise UnsupportedGraphError(f"{k}_size must be a non-negative int64 scalar")
    for name, array in ((f"{k}_idf", idf), (f"{k}_coef", coef)):
        if array.dtype != np.float32 or array.shape != (int(size),):
            raise UnsupportedGraphError(f"{name} must be float32 of shape ({int(size)},)")
    encoder = by_output[f"{k}_col_all"][4]
    keys, columns = encoder["keys_strings"], encoder["values_int64s"]
    if len(keys) != len(columns) or len(set(keys)) != len(keys):
        raise UnsupportedGraphError(f"block {k!r}: LabelEncoder keys and values do not pair up")
    if len(set(columns)) != len(columns) or any(not 0 <= c < int(size) for c in columns):
        raise UnsupportedGraphError(f"block {k!r}: columns not distinct or outside 0..{int(size)}")
    tokenizer = by_output[f"{k}_tokens"][4]
    pad = tokenizer["pad_value"]
    # Padding (rows of a batch) must never form a known n-gram, or batches would differ.
    if any(pad in key for key in keys):
        raise UnsupportedGraphError(f"block {k!r}: a vocabulary entry contains the pad value")
    vocab = dict(zip(keys, columns, strict=True))
    if spec.split == "tokenexp":
        join = ""
        if spec.join:
            join_value = params[f"{k}_join"]
            if join_value.dtype != object or join_value.shape != ():
                raise UnsupportedGraphError(f"{k}_join must be a string scalar")
            raw = join_value.item()
            join = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        return _BlockParams(k, tokenizer["tokenexp"], spec.low, spec.high, join, vocab, idf, coef)
    if tokenizer["separators"] != ("",) or spec.join:
        raise UnsupportedGraphError(
            f"block {k!r}: only separators=[''] (every code point) without a join is known"
        )
    return _BlockParams(k, None, spec.low, spec.high, "", vocab, idf, coef)
