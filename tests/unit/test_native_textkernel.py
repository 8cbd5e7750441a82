"""service/native/textkernel.c scores every text as the numpy path of TextKernel does.

The numpy path (block_scores_numpy / predict_numpy) is the reference: the C kernel sums in
another order, so the two agree within 1e-12, not bit for bit. The engine's start-up check
against onnxruntime (service/text_model.py) must pass with the C path too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

from model.data import load_labelled_csv
from model.export import build_onnx
from model.train import Params, fit
from service import text_kernel
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_kernel import TextKernel
from service.text_model import ONNX_NAME, PROBES, TextModel, kernel_disagreement
from tests.model.conftest import TOY_PARAMS, toy_rows
from tests.unit.test_native import built

TOLERANCE = 1e-12
EDGES = [
    *PROBES,
    "\t\n\r\x0b\x0c \u00a0\u2028\u3000\x1c\x1d\x1e\x1f",
    "İıŞşĞğ Ωω ΣΣΣ ǄǅǆǇ ﬃ é É e\u0301",
    "A" * 20_000,
    "a" * 70_000,  # counts past the tf table: 1 + ln(count) computed
    ("ab " * 30_000)[:70_000],
    "nul\x00inside\x00\x00",
    "\U0001f600" * 3000,
    "\udfff\ud800\udbff\udc00",
    "x\ud83d",
    "?what? \ud800bad\udfff?",
    "12345 67890 0 00 000",
    "Great!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "a b a b a b a b a b a b a b a b",
    "end with a space ",
    " start with one",
    "WordsWithNoSpacesAtAllJustCamelCaseAndDigits123AndMore",
    "\x7f\x80\xff\u0100\uffff\U0010ffff",
]
COMMON = "etaoinshrdlucmfwypvbgkqjxzETAOINSHRDLU0123456789 .,!?'-\n"


@pytest.fixture(scope="module")
def kernel() -> TextKernel:
    built("textkernel")
    k = TextKernel.load(DEFAULT_ARTIFACT_DIR / ONNX_NAME)
    assert k.native
    return k


def assert_same(k: TextKernel, texts: list[str]) -> None:
    for text in texts:
        got, want = k.block_scores(text), k.block_scores_numpy(text)
        assert len(got) == len(want)
        assert np.max(np.abs(np.subtract(got, want)), initial=0.0) <= TOLERANCE, text[:80]
        assert abs(k.predict(text) - k.predict_numpy(text)) <= TOLERANCE, text[:80]


def test_the_default_model_runs_in_c_and_matches_numpy_on_edge_texts(kernel: TextKernel) -> None:
    assert_same(kernel, EDGES)
    assert_same(kernel, [t.upper() for t in EDGES] + [t.lower() for t in EDGES])
    assert kernel.predict("bad \ud800 pair \ud83d\ude00") == kernel.predict("bad ? pair ??")
    assert kernel.predict_many(EDGES) == [kernel.predict(t) for t in EDGES]


def test_the_start_up_check_against_onnxruntime_passes_in_c(kernel: TextKernel) -> None:
    session = ort.InferenceSession(
        str(DEFAULT_ARTIFACT_DIR / ONNX_NAME), providers=["CPUExecutionProvider"]
    )
    assert kernel_disagreement(kernel, session) is None
    model = TextModel.load(DEFAULT_ARTIFACT_DIR, engine="kernel")
    assert model.engine == "kernel"
    assert model._kernel is not None and model._kernel.native


def test_without_the_c_module_the_numpy_path_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_kernel, "_NATIVE", None)
    k = TextKernel.load(DEFAULT_ARTIFACT_DIR / ONNX_NAME)
    assert not k.native
    assert [k.predict(t) for t in PROBES] == [k.predict_numpy(t) for t in PROBES]


def test_arrays_the_c_kernel_does_not_take_are_refused(kernel: TextKernel) -> None:
    native = built("textkernel")
    good = kernel.native_arguments()
    assert native.Kernel(**good).predict("abc") == kernel.predict("abc")  # type: ignore[attr-defined]
    (low, high, dead, translation, index, base, unigrams, grams) = good["words"][0]
    accented = translation[:0xE9] + b"e" + translation[0xEA:]
    bad: list[dict[str, object]] = [
        {"weights": kernel._weights.astype(np.float32)},
        {"weights": kernel._weights[:, :1].copy()},
        # weights that are not products of float32 idf and coefficients (C keeps those only)
        {"weights": kernel._weights * (1 + 2**-40)},
        {"weights": np.column_stack([kernel._weights[:, 0], kernel._weights[:, 1] + 2**-60])},
        {"stride": 0},
        {"order": [5, 0]},
        {"order": [0]},
        {"tf2": text_kernel._TF2.astype(np.float32)},
        {"chars": (1, 5, *good["chars"][2:4], good["chars"][4].astype(np.int64))},
        {"chars": (0, 5, *good["chars"][2:])},
        # a byte of non-ASCII UTF-8 inside a token: splits differ from code points'
        {"words": [(low, high, dead, accented, index, base, unigrams, grams)]},
        {"words": [(low, high, dead, translation, {}, base, unigrams, grams)]},
        {"words": [(low, high, 12345, translation, index, base, unigrams, grams)]},
        {"words": [(low, high, dead, translation, index, base, unigrams, {9: grams[2]})]},
        {"words": [(low, high, dead, translation, index, base, unigrams, {2: grams[2][::-1]})]},
    ]
    for change in bad:
        with pytest.raises((ValueError, TypeError)):
            native.Kernel(**{**good, **change})  # type: ignore[attr-defined]


texts = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=400),
    st.text(st.sampled_from(COMMON), max_size=800),
    st.lists(
        st.one_of(
            st.text(st.sampled_from(COMMON), min_size=1, max_size=40),
            st.text(st.characters(min_codepoint=0x80, exclude_categories=()), max_size=5),
            st.text(st.characters(min_codepoint=0x10000), min_size=1, max_size=3),
            st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
            st.sampled_from([" ", "\t", "\n", "\r\n", "\x00", "\u00a0", "!!!", "?", "\ud800"]),
        ),
        max_size=60,
    ).map("".join),
    st.tuples(st.text(st.sampled_from(COMMON), max_size=60), st.integers(1, 400)).map(
        lambda t: t[0] * t[1]
    ),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_c_equals_numpy_on_generated_text(kernel: TextKernel, text: str) -> None:
    assert_same(kernel, [text, text.upper()])


@pytest.mark.shared_data
def test_c_equals_numpy_on_every_shared_text(shared_data: Path, kernel: TextKernel) -> None:
    files = sorted((shared_data / "text").glob("*.csv"))
    assert files
    all_texts = [t for f in files for t in load_labelled_csv(f).texts]
    assert all_texts
    got = np.array([kernel.block_scores(t) for t in all_texts])
    want = np.array([kernel.block_scores_numpy(t) for t in all_texts])
    diff = np.abs(got - want).max(axis=1)
    assert diff.max() <= TOLERANCE, all_texts[int(diff.argmax())][:80]
    p_got = np.array(kernel.predict_many(all_texts))
    p_want = np.array([kernel.predict_numpy(t) for t in all_texts])
    diff = np.abs(p_got - p_want)
    assert diff.max() <= TOLERANCE, all_texts[int(diff.argmax())][:80]


# ---- graphs of other shapes: n-gram ranges, word patterns ---------------------------------


def toy_graph(changes: dict[str, int]) -> onnx.ModelProto:
    rows = toy_rows()
    params = Params(**{**TOY_PARAMS.to_dict(), **changes})
    labels = [int(label == "fake") for _, label in rows]
    return build_onnx(fit([t for t, _ in rows], labels, params))


@pytest.mark.parametrize(
    "changes",
    [
        {"word_ngram_min": 2, "word_ngram_max": 3, "char_ngram_min": 2, "char_ngram_max": 4},
        {"word_ngram_max": 1, "char_ngram_max": 1},
        {"word_ngram_min": 1, "word_ngram_max": 3, "char_ngram_min": 3, "char_ngram_max": 6},
    ],
    ids=["no-unigrams", "unigrams-only", "trigrams"],
)
def test_c_equals_numpy_on_graphs_of_other_shapes(changes: dict[str, int]) -> None:
    built("textkernel")
    k = TextKernel.from_model(toy_graph(changes))
    assert k.native
    assert_same(k, [t for t, _ in toy_rows(1)] + EDGES)


def test_c_equals_numpy_with_a_word_class_that_holds_the_question_mark() -> None:
    """[0-z]+ holds "?" (what a lone surrogate becomes) and other punctuation."""
    built("textkernel")
    model = onnx.load(str(DEFAULT_ARTIFACT_DIR / ONNX_NAME))
    tokenizer = next(n for n in model.graph.node if n.output[0] == "word_tokens")
    kept = [a for a in tokenizer.attribute if a.name != "tokenexp"]
    del tokenizer.attribute[:]
    tokenizer.attribute.extend([*kept, helper.make_attribute("tokenexp", "[0-z]+")])
    k = TextKernel.from_model(model)
    assert k.native
    assert_same(k, [*EDGES, "what? \ud800 why?? \udfff@[x]^_` ok:;<=>"])
