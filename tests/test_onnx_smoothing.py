"""SmoothQuant-style smoothing: same fp32 function, less int8 error when one input channel is an outlier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.onnx_smoothing import input_maxima, smooth, smoothable_nodes


def _two_matmuls(path: Path, seed: int = 0) -> None:
    """x (n x 16) -> MatMul W1 (16 x 16) -> Relu -> MatMul W2 (16 x 4); W1 is also read by nothing else."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(size=(16, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(16, 4)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="second")],
        "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime of any supported version reads
    onnx.save(model, str(path))


def _inputs(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, 16)).astype(np.float32)
    x[:, 3] *= 60.0  # one outlier channel, as in the e5 FFN inputs
    return x


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]


def _maxima(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    names = sorted({n.input[0] for n in smoothable_nodes(model)})
    return input_maxima(model, names, ({"x": _inputs(32, seed)} for seed in range(4)))


def _int8_error(path: Path, x: np.ndarray, reference: np.ndarray) -> float:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_suffix(".int8.onnx")
    quantize_dynamic(path, quantized, weight_type=QuantType.QInt8, per_channel=True)
    return float(np.abs(_run(quantized, x) - reference).mean())


def test_smoothing_keeps_the_function_and_cuts_int8_error(tmp_path: Path) -> None:
    plain, smoothed_path = tmp_path / "plain.onnx", tmp_path / "smoothed.onnx"
    _two_matmuls(plain)
    model = onnx.load(str(plain))
    assert [n.name for n in smoothable_nodes(model)] == ["first", "second"]
    maxima = _maxima(model)
    assert [o.name for o in model.graph.output] == ["y"]  # the probe outputs went to a copy
    assert maxima["x"][3] > 10 * np.median(maxima["x"])
    assert smooth(model, maxima, alpha=0.7) == 2
    assert [n.op_type for n in model.graph.node] == ["Mul", "MatMul", "Relu", "Mul", "MatMul"]
    onnx.checker.check_model(model)
    onnx.save(model, str(smoothed_path))

    x = _inputs(64, seed=99)  # not calibration data
    reference = _run(plain, x)
    np.testing.assert_allclose(_run(smoothed_path, x), reference, rtol=1e-4, atol=1e-3)
    assert _int8_error(smoothed_path, x, reference) < 0.5 * _int8_error(plain, x, reference)


def test_shared_weights_are_left_alone_and_alpha_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "plain.onnx"
    _two_matmuls(path)
    model = onnx.load(str(path))
    model.graph.node.append(helper.make_node("MatMul", ["r", "w2"], ["y2"], name="third"))
    assert [n.name for n in smoothable_nodes(model)] == ["first"]
    with pytest.raises(ValueError, match="alpha"):
        smooth(model, {"x": np.ones(16, dtype=np.float32)}, alpha=1.0)
    with pytest.raises(ValueError, match="at least one calibration window"):
        input_maxima(model, ["x"], [])
