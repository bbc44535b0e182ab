"""ONNX Runtime candidates: a one-node ``Conv`` model built with ``onnx.helper``, run by the
CPU execution provider with graph optimisations on (``ORT_ENABLE_ALL``) or off
(``ORT_DISABLE_ALL``), in float32 and float16. Forward only (no autograd in onnxruntime).

``pads`` is ONNX's [top, left, bottom, right]; one intra-op thread. One session per
(shapes, attributes) is built and cached, the last ``SESSIONS_KEPT`` of them: a fuzzed run
draws a new shape almost every case, and each session holds ~0.13 MiB resident and reserves a
1 MiB arena: 9,971 cached sessions held 1.4 GiB resident and 11 GiB of address space (64: 0.11
and 0.58 GiB).
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin

SESSIONS_KEPT = 64


def run_onnxruntime(x, w, b, gy, stride, padding, dilation, groups, *, optimize=True, opset=21):
    """One Conv node, CPUExecutionProvider; x NCHW, w OIHW. Forward only: gy must be None."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if gy is not None:
        raise NotImplementedError("onnxruntime has no backward pass")
    cache = run_onnxruntime.__dict__.setdefault("cache", {})
    (pt, pb), (pl, pr) = padding
    key = (x.shape, w.shape, b is not None, str(x.dtype), tuple(stride), (pt, pb, pl, pr), tuple(dilation),
           groups, optimize, opset)
    if key not in cache:
        elem = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float16"): TensorProto.FLOAT16,
                np.dtype("float64"): TensorProto.DOUBLE}[x.dtype]
        inputs = [helper.make_tensor_value_info("x", elem, list(x.shape)),
                  helper.make_tensor_value_info("w", elem, list(w.shape))]
        if b is not None:
            inputs.append(helper.make_tensor_value_info("b", elem, list(b.shape)))
        node = helper.make_node("Conv", [i.name for i in inputs], ["y"], kernel_shape=list(w.shape[2:]),
                                strides=list(stride), pads=[pt, pl, pb, pr], dilations=list(dilation), group=groups)
        out_hw = [(size + lo + hi - d * (k - 1) - 1) // s + 1 for size, (lo, hi), d, k, s in
                  zip(x.shape[2:], padding, dilation, w.shape[2:], stride)]
        y_info = helper.make_tensor_value_info("y", elem, [x.shape[0], w.shape[0], *out_hw])
        graph = helper.make_graph([node], "conv", inputs, [y_info])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
        onnx.checker.check_model(model)
        options = ort.SessionOptions()
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        if len(cache) >= 64:                     # SESSIONS_KEPT (a literal: this function is copied into scripts)
            del cache[next(iter(cache))]         # the oldest
        cache[key] = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {"x": x, "w": w} if b is None else {"x": x, "w": w, "b": b}
    return {"y": cache[key].run(["y"], feeds)[0]}


class OnnxRuntimeCandidate(FrameworkPlugin):
    requires = ("onnxruntime", "onnx")
    run = run_onnxruntime
    standalone = (run_onnxruntime,)
    capabilities = Capabilities(dtypes=("float32", "float16"), backward=False, max_elements=2_000_000)
    # float32: a float32 direct sum; float16: products exact in float32, float32 accumulation, output
    # rounded to float16 (DirectSum's default for a low-precision storage type)
    error_model = DirectSum()
    backward_method = "none (onnxruntime has no autograd)"

    def library_settings(self) -> dict:
        import onnxruntime as ort

        return {"providers": ort.get_available_providers(), "device": ort.get_device(),
                "graph_optimizations": "ORT_ENABLE_ALL" if self.options.get("optimize", True) else "ORT_DISABLE_ALL"}


class OnnxRuntimeOptimized(OnnxRuntimeCandidate):
    name = "onnxruntime"
    description = "onnxruntime CPUExecutionProvider, one Conv node (onnx.helper), graph optimisations ORT_ENABLE_ALL"


class OnnxRuntimeUnoptimized(OnnxRuntimeCandidate):
    name = "onnxruntime-noopt"
    description = "onnxruntime CPUExecutionProvider, one Conv node (onnx.helper), graph optimisations ORT_DISABLE_ALL"
    options = {"optimize": False}
