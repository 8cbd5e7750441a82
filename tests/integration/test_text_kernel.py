"""The numpy kernel scores as onnxruntime does on the same ONNX file, and refuses other graphs."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from model.data import load_labelled_csv
from model.export import build_onnx, serialise
from model.train import Params, fit
from service.settings import DEFAULT_ARTIFACT_DIR, Settings
from service.text_kernel import TextKernel, UnsupportedGraphError
from service.text_model import (
    ONNX_NAME,
    PROBES,
    TextModel,
    TextModelError,
    kernel_disagreement,
)
from tests.model.conftest import TOY_PARAMS, toy_rows

TOLERANCE = 1e-9
EDGE_TEXTS = [
    *PROBES,
    "",
    "\t\n\r\x0b\x0c \u00a0\u2028\u3000",
    "İıŞşĞğ Ωω ΣΣΣ ǄǅǆǇ ﬃ",  # non-ASCII cases StringNormalizer("C") leaves alone
    "A" * 20_000,
    "nul\x00inside\x00\x00",
    "\U0001f600" * 3000,
    "\udfff\ud800\udbff\udc00",
    "x\ud83d",
    "12345 67890 0 00 000",
    "Great!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "a b a b a b a b a b a b a b a b",
    "ÀÉÎÕÜ àéîõü Straße STRASSE straße",
    "end with a space ",
    " start with one",
    "WordsWithNoSpacesAtAllJustCamelCaseAndDigits123AndMore",
]
# Characters the vocabulary has, so generated texts hit known n-grams too.
COMMON = "etaoinshrdlucmfwypvbgkqjxzETAOINSHRDLU0123456789 .,!?'-\n"


@pytest.fixture(scope="module")
def runtime() -> TextModel:
    return TextModel.load(DEFAULT_ARTIFACT_DIR, engine="onnxruntime")


@pytest.fixture(scope="module")
def kernel() -> TextModel:
    return TextModel.load(DEFAULT_ARTIFACT_DIR, engine="kernel")


def assert_same(kernel: TextModel, runtime: TextModel, texts: list[str]) -> None:
    got = np.array([kernel.predict(t) for t in texts])
    want = np.array([runtime.predict(t) for t in texts])
    diff = np.abs(got - want)
    worst = int(diff.argmax()) if texts else 0
    assert texts == [] or diff[worst] <= TOLERANCE, (texts[worst][:80], got[worst], want[worst])


def test_the_default_model_runs_on_the_kernel(kernel: TextModel, runtime: TextModel) -> None:
    assert TextModel.load(DEFAULT_ARTIFACT_DIR).engine == "kernel"  # auto
    assert Settings().text_engine == "auto"
    assert kernel.engine == "kernel" and runtime.engine == "onnxruntime"
    assert kernel.version == runtime.version


def test_kernel_equals_onnxruntime_on_edge_texts(kernel: TextModel, runtime: TextModel) -> None:
    assert_same(kernel, runtime, EDGE_TEXTS)


def test_batches_equal_single_texts_on_both_engines(kernel: TextModel, runtime: TextModel) -> None:
    single = [kernel.predict(t) for t in EDGE_TEXTS]
    # onnxruntime pads the rows of a batch; padding never forms a known n-gram
    assert np.max(np.abs(np.array(runtime.predict_many(EDGE_TEXTS)) - single)) <= TOLERANCE
    assert kernel.predict_many(EDGE_TEXTS) == single
    assert kernel.predict_many([]) == []


def test_surrogates_are_scored_as_the_question_marks_onnxruntime_sees(kernel: TextModel) -> None:
    assert kernel.predict("bad \ud800 pair \ud83d\ude00") == kernel.predict("bad ? pair ??")


texts = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=300),
    st.text(st.sampled_from(COMMON), max_size=600),
    st.lists(
        st.one_of(
            st.text(st.sampled_from(COMMON), min_size=1, max_size=40),
            st.text(st.characters(min_codepoint=0x80, exclude_categories=()), max_size=5),
            st.text(st.characters(min_codepoint=0x10000), min_size=1, max_size=3),
            st.sampled_from([" ", "\t", "\n", "\r\n", "\x00", "\u00a0", "!!!", "...", "\ud800"]),
        ),
        max_size=40,
    ).map("".join),
    st.tuples(st.text(st.sampled_from(COMMON), max_size=60), st.integers(1, 300)).map(
        lambda t: t[0] * t[1]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=4))
def test_kernel_equals_onnxruntime_on_generated_text(
    kernel: TextModel, runtime: TextModel, batch: list[str]
) -> None:
    assert_same(kernel, runtime, batch)
    upper = [t.upper() for t in batch]
    assert_same(kernel, runtime, upper)


@pytest.mark.shared_data
def test_kernel_equals_onnxruntime_on_every_shared_text(
    shared_data: Path, kernel: TextModel, runtime: TextModel
) -> None:
    files = sorted((shared_data / "text").glob("*.csv"))
    assert files
    all_texts = [t for f in files for t in load_labelled_csv(f).texts]
    got = np.array(kernel.predict_many(all_texts))
    want = np.array(runtime.predict_many(all_texts))  # batched by onnxruntime
    diff = np.abs(got - want)
    assert diff.max() <= TOLERANCE, all_texts[int(diff.argmax())][:80]


# ---- graphs the kernel does not know -----------------------------------------------------


def constant_graph() -> onnx.ModelProto:
    """text [N] -> p_fake [N], always 0.25: a valid text model that is not export.py's graph."""
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["text"], ["n"]),
            helper.make_node(
                "ConstantOfShape",
                ["n"],
                ["p_fake"],
                value=numpy_helper.from_array(np.array([0.25])),
            ),
        ],
        "constant",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("p_fake", TensorProto.DOUBLE, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


def artifact_with(graph: onnx.ModelProto, directory: Path) -> Path:
    shutil.copytree(DEFAULT_ARTIFACT_DIR, directory)
    (directory / ONNX_NAME).write_bytes(serialise(graph))
    return directory


def test_an_unknown_graph_runs_on_onnxruntime_in_auto_and_fails_in_kernel_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(UnsupportedGraphError, match="no Tokenizer node"):
        TextKernel.from_model(constant_graph())
    artifact = artifact_with(constant_graph(), tmp_path / "constant")
    with caplog.at_level(logging.WARNING, logger="reviewguard.text_model"):
        model = TextModel.load(artifact, engine="auto")
    assert model.engine == "onnxruntime"
    assert model.predict("anything") == 0.25
    assert model.predict_many(["a", "b"]) == [0.25, 0.25]
    assert "runs on onnxruntime, not the kernel" in caplog.text
    with pytest.raises(TextModelError, match="kernel cannot run it"):
        TextModel.load(artifact, engine="kernel")
    assert TextModel.load(artifact, engine="onnxruntime").engine == "onnxruntime"


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(TextModelError, match="unknown text engine"):
        TextModel.load(DEFAULT_ARTIFACT_DIR, engine="tensorflow")


def onnx_input(texts: list[str]) -> np.ndarray:
    # dtype=object as the service passes them: a numpy "<U" array would cut strings at a NUL
    return np.array([t.encode("utf-8", "replace").decode() for t in texts], dtype=object)


def default_graph() -> onnx.ModelProto:
    return onnx.load(str(DEFAULT_ARTIFACT_DIR / ONNX_NAME))


def node(model: onnx.ModelProto, op: str, output: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.op_type == op and n.output[0] == output)


def set_attribute(n: onnx.NodeProto, name: str, value: object) -> None:
    kept = [a for a in n.attribute if a.name != name]
    del n.attribute[:]
    n.attribute.extend([*kept, helper.make_attribute(name, value)])


@pytest.mark.parametrize(
    "change",
    [
        lambda m: set_attribute(node(m, "Tokenizer", "word_tokens"), "mark", 1),
        lambda m: set_attribute(node(m, "Tokenizer", "word_tokens"), "tokenexp", r"\w+"),
        lambda m: set_attribute(node(m, "Tokenizer", "char_tokens"), "separators", [" "]),
        lambda m: set_attribute(node(m, "StringNormalizer", "lowered"), "locale", "en_US"),
        lambda m: set_attribute(node(m, "StringNormalizer", "lowered"), "case_change_action", "UP"),
        lambda m: set_attribute(node(m, "LabelEncoder", "char_col_all"), "default_int64", 0),
        lambda m: setattr(node(m, "Sigmoid", "p_fake"), "op_type", "Relu"),
        lambda m: node(m, "Add", "word_tf").input.__setitem__(1, "zero"),
        lambda m: m.graph.node.remove(node(m, "Sqrt", "char_norm0")),
        lambda m: next(i for i in m.graph.initializer if i.name == "one").CopyFrom(
            numpy_helper.from_array(np.array(2.0), "one")
        ),
        lambda m: next(i for i in m.graph.initializer if i.name == "char_idf").CopyFrom(
            numpy_helper.from_array(np.zeros(3, dtype=np.float32), "char_idf")
        ),
    ],
    ids=[
        "mark",
        "unicode-word-class",
        "separator",
        "locale",
        "upper",
        "default-column",
        "no-sigmoid",
        "rewired",
        "node-removed",
        "constant",
        "idf-size",
    ],
)
def test_any_change_to_the_graph_shape_is_refused(
    change: Callable[[onnx.ModelProto], object],
) -> None:
    model = default_graph()
    change(model)
    with pytest.raises(UnsupportedGraphError):
        TextKernel.from_model(model)


def test_the_kernel_follows_the_graph_not_a_copy_of_the_default() -> None:
    """Another word pattern, other weights: the kernel computes what onnxruntime computes."""
    model = default_graph()
    set_attribute(node(model, "Tokenizer", "word_tokens"), "tokenexp", "[a-z]+")
    coef = next(i for i in model.graph.initializer if i.name == "char_coef")
    values = numpy_helper.to_array(coef) * np.float32(-0.5)
    coef.CopyFrom(numpy_helper.from_array(values, "char_coef"))
    kernel = TextKernel.from_model(model)
    session = ort.InferenceSession(serialise(model), providers=["CPUExecutionProvider"])
    assert kernel_disagreement(kernel, session) is None
    for text in ["route 66 was 2x better", "B2B 4x4 model 3", *EDGE_TEXTS[:20]]:
        (want,) = session.run(None, {"text": onnx_input([text])})
        assert abs(kernel.predict(text) - float(want[0])) <= TOLERANCE


def test_a_disagreeing_kernel_is_reported() -> None:
    other = TextKernel.from_model(toy_graph(TOY_PARAMS))
    session = ort.InferenceSession(
        str(DEFAULT_ARTIFACT_DIR / ONNX_NAME), providers=["CPUExecutionProvider"]
    )
    problem = kernel_disagreement(other, session)
    assert problem is not None and "onnxruntime" in problem


# ---- graphs export.py builds with other parameters --------------------------------------


def toy_graph(params: Params) -> onnx.ModelProto:
    rows = toy_rows()
    pipe = fit([t for t, _ in rows], [int(label == "fake") for _, label in rows], params)
    return build_onnx(pipe)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"word_ngram_min": 2, "word_ngram_max": 3, "char_ngram_min": 2, "char_ngram_max": 4},
        {"word_ngram_max": 1, "char_ngram_max": 1},
        {"word_ngram_min": 1, "word_ngram_max": 3, "char_ngram_min": 3, "char_ngram_max": 6},
    ],
    ids=["toy", "no-unigrams", "unigrams-only", "trigrams"],
)
def test_exported_graphs_of_other_shapes_are_recognised_and_exact(
    changes: dict[str, int], tmp_path: Path
) -> None:
    graph = toy_graph(Params(**{**TOY_PARAMS.to_dict(), **changes}))
    kernel = TextKernel.from_model(graph)
    session = ort.InferenceSession(serialise(graph), providers=["CPUExecutionProvider"])
    assert kernel_disagreement(kernel, session) is None
    texts = [t for t, _ in toy_rows(1)] + EDGE_TEXTS[:25]
    want = session.run(None, {"text": onnx_input(texts)})
    diff = np.abs(np.array(kernel.predict_many(texts)) - want[0])
    assert diff.max() <= TOLERANCE, texts[int(diff.argmax())][:80]
    # and TextModel picks the kernel for such an artifact
    assert TextModel.load(artifact_with(graph, tmp_path / "toy")).engine == "kernel"
