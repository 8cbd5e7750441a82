"""ONNX export: the whole text pipeline, raw string in, calibrated P(fake) out.

The graph needs only standard ONNX ops plus the com.microsoft Tokenizer, so onnxruntime runs it.
StringNormalizer runs with locale "C" (ASCII lowercasing), which exists in every container;
skl2onnx's default en_US.UTF-8 would fail to load in slim images.

The service normally scores with service/text_kernel.py, which recognises exactly the graph built
here, node for node, and reads the vocabulary and weights out of it. A graph of another shape runs
on onnxruntime (with a warning) until the kernel learns it: tests/integration/test_text_kernel.py
checks that the graphs built here are recognised and score as onnxruntime does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model.text_features import WORD_JOIN, WORD_PATTERN
from model.train import Block, TextPipeline

INPUT_NAME = "text"
OUTPUT_NAME = "p_fake"
OPSET = 20  # StringConcat needs 20
MS_OPSET = 1
IR_VERSION = 9
ML_OPSET = 3
# Pads short rows of a batch. Longer than any char n-gram and not a word, so no n-gram that
# contains it is in a vocabulary.
PAD = "<pad:reviewguard>"


def _ngram_nodes(k: str, low: int, high: int, join: str) -> tuple[list[onnx.NodeProto], str]:
    """Every n-gram (low..high) of the token matrix `{k}_tokens` [N, T] as strings [N, S]."""
    nodes: list[onnx.NodeProto] = []
    previous = f"{k}_tokens"
    parts = [previous] if low == 1 else []
    for n in range(2, high + 1):
        # n-gram at i = (n-1)-gram at i, then join, then the token at i + n - 1
        nodes += [
            helper.make_node("Slice", [previous, "start0", "end_minus1", "axis1"], [f"{k}_h{n}"]),
            helper.make_node(
                "Slice", [f"{k}_tokens", f"start{n - 1}", "end_max", "axis1"], [f"{k}_t{n}"]
            ),
        ]
        head = f"{k}_h{n}"
        if join:
            nodes.append(helper.make_node("StringConcat", [head, f"{k}_join"], [f"{k}_j{n}"]))
            head = f"{k}_j{n}"
        nodes.append(helper.make_node("StringConcat", [head, f"{k}_t{n}"], [f"{k}_g{n}"]))
        previous = f"{k}_g{n}"
        if n >= low:
            parts.append(previous)
    nodes.append(helper.make_node("Concat", parts, [f"{k}_grams"], axis=1))
    return nodes, f"{k}_grams"


def _block_nodes(
    block: Block, coef: np.ndarray, source: str, inits: list[onnx.TensorProto]
) -> tuple[list[onnx.NodeProto], str]:
    k = block.kind
    size = len(block.idf)
    # Words by a regular expression; characters by splitting on the empty separator.
    split: dict[str, Any] = {"tokenexp": WORD_PATTERN} if k == "word" else {"separators": [""]}
    tokenizer = helper.make_node(
        "Tokenizer",
        [source],
        [f"{k}_tokens"],
        domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value=PAD,
        **split,
    )
    join = WORD_JOIN if k == "word" else ""
    names = list(block.vocabulary)  # sorted when the block was fitted
    inits += [
        numpy_helper.from_array(block.idf.astype(np.float32), f"{k}_idf"),
        numpy_helper.from_array(coef.astype(np.float32), f"{k}_coef"),
        numpy_helper.from_array(np.array(size, dtype=np.int64), f"{k}_size"),
    ]
    if join:
        inits.append(numpy_helper.from_array(np.array(join, dtype=object), f"{k}_join"))
    gram_nodes, grams = _ngram_nodes(k, block.ngram_min, block.ngram_max, join)
    nodes = [
        tokenizer,
        *gram_nodes,
        # n-gram -> column, -1 when not in the vocabulary
        helper.make_node(
            "LabelEncoder",
            [grams],
            [f"{k}_col_all"],
            domain="ai.onnx.ml",
            keys_strings=names,
            values_int64s=[block.vocabulary[n] for n in names],
            default_int64=-1,
        ),
        # key = row * size + column of each known n-gram occurrence. Scatter-adding ones at the
        # keys into a zero buffer counts every n-gram; each occurrence then carries 1/count of
        # its n-gram's terms, so summing over occurrences sums over distinct n-grams. No sort,
        # no Unique, and nothing vocabulary-wide but one zero-filled float buffer per row.
        helper.make_node("Mul", ["row_index", f"{k}_size"], [f"{k}_row_base"]),
        helper.make_node("Add", [f"{k}_row_base", f"{k}_col_all"], [f"{k}_key_all"]),
        helper.make_node("GreaterOrEqual", [f"{k}_col_all", "zero_i"], [f"{k}_known2d"]),
        helper.make_node("Reshape", [f"{k}_key_all", "flat"], [f"{k}_key_flat"]),
        helper.make_node("Reshape", [f"{k}_known2d", "flat"], [f"{k}_known"]),
        helper.make_node("Compress", [f"{k}_key_flat", f"{k}_known"], [f"{k}_key"], axis=0),
        helper.make_node("Mul", ["n_rows", f"{k}_size"], [f"{k}_cells"]),
        helper.make_node(
            "ConstantOfShape",
            [f"{k}_cells"],
            [f"{k}_zeros"],
            value=numpy_helper.from_array(np.array([0.0], dtype=np.float32)),
        ),
        helper.make_node("Shape", [f"{k}_key"], [f"{k}_m"]),
        helper.make_node(
            "ConstantOfShape",
            [f"{k}_m"],
            [f"{k}_ones"],
            value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)),
        ),
        helper.make_node(
            "ScatterElements",
            [f"{k}_zeros", f"{k}_key", f"{k}_ones"],
            [f"{k}_counts"],
            axis=0,
            reduction="add",
        ),
        helper.make_node("Gather", [f"{k}_counts", f"{k}_key"], [f"{k}_c_f"], axis=0),
        helper.make_node("Div", [f"{k}_key", f"{k}_size"], [f"{k}_rows"]),
        helper.make_node("Mod", [f"{k}_key", f"{k}_size"], [f"{k}_cols"]),
        helper.make_node("Cast", [f"{k}_c_f"], [f"{k}_c"], to=TensorProto.DOUBLE),
        # sublinear tf: 1 + ln(count) for the n-grams present
        helper.make_node("Log", [f"{k}_c"], [f"{k}_log"]),
        helper.make_node("Add", [f"{k}_log", "one"], [f"{k}_tf"]),
        helper.make_node("Gather", [f"{k}_idf", f"{k}_cols"], [f"{k}_idf_f"], axis=0),
        helper.make_node("Cast", [f"{k}_idf_f"], [f"{k}_idf_c"], to=TensorProto.DOUBLE),
        helper.make_node("Gather", [f"{k}_coef", f"{k}_cols"], [f"{k}_coef_f"], axis=0),
        helper.make_node("Cast", [f"{k}_coef_f"], [f"{k}_coef_c"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", [f"{k}_tf", f"{k}_idf_c"], [f"{k}_w"]),
        helper.make_node("Div", [f"{k}_w", f"{k}_c"], [f"{k}_w_share"]),
        helper.make_node("Mul", [f"{k}_w", f"{k}_w_share"], [f"{k}_w2"]),
        helper.make_node("Mul", [f"{k}_w_share", f"{k}_coef_c"], [f"{k}_wc"]),
        helper.make_node(
            "ScatterElements",
            ["row_zeros", f"{k}_rows", f"{k}_w2"],
            [f"{k}_sq"],
            axis=0,
            reduction="add",
        ),
        helper.make_node(
            "ScatterElements",
            ["row_zeros", f"{k}_rows", f"{k}_wc"],
            [f"{k}_dot"],
            axis=0,
            reduction="add",
        ),
        helper.make_node("Sqrt", [f"{k}_sq"], [f"{k}_norm0"]),
        # a row without any feature keeps norm 1, as sklearn's normalize does
        helper.make_node("Equal", [f"{k}_norm0", "zero"], [f"{k}_isnull"]),
        helper.make_node("Where", [f"{k}_isnull", "one", f"{k}_norm0"], [f"{k}_norm"]),
        helper.make_node("Div", [f"{k}_dot", f"{k}_norm"], [f"{k}_score"]),
    ]
    return nodes, f"{k}_score"


def build_onnx(pipe: TextPipeline) -> onnx.ModelProto:
    inits: list[onnx.TensorProto] = [
        numpy_helper.from_array(np.array(0.0), "zero"),
        numpy_helper.from_array(np.array(1.0), "one"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_i"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "one_i"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "start0"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "end_minus1"),
        numpy_helper.from_array(np.array([2**62], dtype=np.int64), "end_max"),
        *[
            numpy_helper.from_array(np.array([n], dtype=np.int64), f"start{n}")
            for n in range(1, max(2, *(b.ngram_max for b in pipe.blocks)))
        ],
        numpy_helper.from_array(np.array([pipe.intercept]), "intercept"),
        numpy_helper.from_array(np.array([pipe.platt_a]), "platt_a"),
        numpy_helper.from_array(np.array([pipe.platt_b]), "platt_b"),
    ]
    nodes = [
        helper.make_node("Shape", [INPUT_NAME], ["n_rows"]),
        helper.make_node("Squeeze", ["n_rows"], ["n_rows_scalar"]),
        helper.make_node("Range", ["zero_i", "n_rows_scalar", "one_i"], ["row_range"]),
        helper.make_node("Unsqueeze", ["row_range", "axis1"], ["row_index"]),
        helper.make_node(
            "ConstantOfShape",
            ["n_rows"],
            ["row_zeros"],
            value=numpy_helper.from_array(np.array([0.0])),
        ),
        helper.make_node(
            "StringNormalizer",
            [INPUT_NAME],
            ["lowered"],
            case_change_action="LOWER",
            is_case_sensitive=1,
            locale="C",
        ),
    ]
    scores = []
    for block, coef in zip(pipe.blocks, pipe.coef, strict=True):
        block_nodes, score = _block_nodes(block, coef, "lowered", inits)
        nodes += block_nodes
        scores.append(score)
    nodes += [
        helper.make_node("Sum", [*scores, "intercept"], ["decision"]),
        helper.make_node("Mul", ["decision", "platt_a"], ["z0"]),
        helper.make_node("Add", ["z0", "platt_b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "reviewguard_text",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, ["N"])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="reviewguard.model",
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
            helper.make_opsetid("com.microsoft", MS_OPSET),
        ],
    )
    model.ir_version = IR_VERSION
    return model


def serialise(model: onnx.ModelProto) -> bytes:
    return bytes(model.SerializeToString(deterministic=True))


def signature(model: onnx.ModelProto) -> dict[str, Any]:
    def describe(value: onnx.ValueInfoProto) -> dict[str, Any]:
        tensor = value.type.tensor_type
        return {
            "name": value.name,
            "dtype": TensorProto.DataType.Name(tensor.elem_type).lower(),
            "shape": [d.dim_param or d.dim_value for d in tensor.shape.dim],
        }

    return {
        "inputs": [describe(v) for v in model.graph.input],
        "outputs": [describe(v) for v in model.graph.output],
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ir_version": model.ir_version,
    }
