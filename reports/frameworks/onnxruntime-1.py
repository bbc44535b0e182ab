#!/usr/bin/env python3
"""Reproduction: onnxruntime n2c4h1w8f16k5x5s2x3p7,12,4,1d3x3g4b0 f32 (crashed)

Candidate onnxruntime: onnxruntime CPUExecutionProvider, one Conv node (onnx.helper), graph optimisations ORT_ENABLE_ALL
Case n2c4h1w8f16k5x5s2x3p7,12,4,1d3x3g4b0 f32 (forward), failure kind: crashed.
Triage: library bug: crashed: the worker exited with code 1 (the plugin ended the process: os._exit or sys.exit) (contained by the worker)
Library: onnxruntime 1.32.0, onnx 1.23.2. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Declared error model: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32 for bf16/f16, else the storage dtype, output rounded to storage, bias before that rounding; BOUNDS below is that model's bound plus the
float64 reference's own error, per element, as computed by conv-oracle.
The reference is a float64 direct sum over the same (rounded) inputs.

Run: python onnxruntime-1.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only onnxruntime 1.32.0, onnx 1.23.2 and NumPy)
"""
import base64
import os
import sys

import numpy as np

ENVIRONMENT = {}   # the library settings the candidate declares, set before its import
os.environ.update(ENVIRONMENT)


def _array(data, dtype, shape):
    if dtype == "bfloat16":
        import ml_dtypes  # NumPy's bfloat16 (installed with JAX and torch)
        dtype = ml_dtypes.bfloat16
    return np.frombuffer(base64.b64decode("".join(data)), dtype=dtype).reshape(shape).copy()

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
        cache[key] = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {"x": x, "w": w} if b is None else {"x": x, "w": w, "b": b}
    return {"y": cache[key].run(["y"], feeds)[0]}


def reference64(x, w, b, gy, stride, padding, dilation, groups):
    """float64 conv2d (cross-correlation, NCHW / OIHW) and its gradients by direct summation,
    with the magnitudes S = the same sums over |x|, |w|, |b|, |gy| (what error bounds scale with)."""
    import numpy as np

    def conv(x, w, b, gy):
        (pt, pb), (pl, pr) = padding
        (sh, sw), (dh, dw_) = stride, dilation
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        n, c, hp, wp = xp.shape
        f, cg, kh, kw = w.shape
        fg = f // groups
        ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw_ * (kw - 1) - 1) // sw + 1
        y = np.zeros((n, f, ho, wo))
        dxp, dwt = np.zeros_like(xp), np.zeros_like(w)
        for g in range(groups):
            cs, fs = slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
                    cols = slice(j * dw_, j * dw_ + sw * (wo - 1) + 1, sw)
                    tap = xp[:, cs, rows, cols]                                  # (N, C/g, Ho, Wo)
                    y[:, fs] += np.einsum("nchw,fc->nfhw", tap, w[fs, :, i, j])
                    if gy is not None:
                        dxp[:, cs, rows, cols] += np.einsum("nfhw,fc->nchw", gy[:, fs], w[fs, :, i, j])
                        dwt[fs, :, i, j] = np.einsum("nfhw,nchw->fc", gy[:, fs], tap)
        out = {"y": y + (0 if b is None else b[None, :, None, None])}
        if gy is not None:
            out["dx"], out["dw"] = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]], dwt
            if b is not None:
                out["db"] = gy.sum(axis=(0, 2, 3))
        return out

    def f64(a):
        return None if a is None else np.asarray(a, dtype=np.float64)

    x, w, b, gy = f64(x), f64(w), f64(b), f64(gy)
    truth = conv(x, w, b, gy)
    with np.errstate(invalid="ignore"):
        scale = conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), None if gy is None else np.abs(gy))
    return truth, scale

LIBRARY = 'onnxruntime 1.32.0, onnx 1.23.2'
DESCRIPTOR = 'n2c4h1w8f16k5x5s2x3p7,12,4,1d3x3g4b0 f32'
STRIDE, PADDING, DILATION, GROUPS = (2, 3), ((7, 12), (4, 1)), (3, 3), 4
X = _array(
    '0TUxv03wR74MRKU+PopnvtRggD+WvYu+ZhwXPgNDjr9Fjha/G31avyaklL+dRog//DMQP7VJfb/I8fi/8ueKvtGAbD7D6L8/'
    'mAy0P7lBaL/YX1c/Gm9KP5aURT9MzHK+UlWZP7hVtr7K3rq+TLF9v+KlRj1fIIO/7R/uPpqXRz+/XUs+LquVvgKdQz+223u/'
    'sjn5Px86eb4Xm7s+0EGlvq1mGz+lpJQ/hlnGP6hWkD1zBTY/L3TNv+bsiL/WMaM+U3CoP2aShz2CECG+qqQBvyqrTz9CKxC/'
    'CqgUQOLlrT7ASaY/93PvvW2hsb6To/4/4Kyzv1kAoD9fYIU+/t8Uvw==',
    'float32', (2, 4, 1, 8))
W = _array(
    'uMZ2P7BQgz5RhR6+1QsrPxVLL0AeEWI+OFaMv6FuLj5UYSM+L9aNvazOML9X232//d6YP8O9IT5ejx0+rnhnPicCLT4gTTe/'
    'NBadv0AnyL5sbi1AKpqWv6RUW72E0wU9C3dlv52Y2r8UOL2+q9HSPyfo6j9QkrE+UJr8P/sGKj72Hxk/9+fgPxeYir+n4lQ/'
    '4qukv2vXab+kZn4/umQ8P2REu7+xXb8/7mUtP3QXFj5EuP6+hmSbP04Bzj97VNo8KggVvpLu0j6vNAC/bWEIQHiOyr9ZPI2/'
    'oy6mP7wrIr8kEIi9aP2+P3MoA7/Y9Zg/CvJ0P3tfFj/DC0a+YUnQPmm0J8ADjoi/yh4pP+x9w7/R/ta/4VeDPp694r0wlEk+'
    'Wgb9P7iS17/Z+qO+5MV1PpQLlj+F9dy+Zq+Hv2esYb84I+m/47oKPzcLiT8heco8QF8LvvakBb9/F9u/wtqQvwIRBT8u0hW9'
    '8o3wv2fSsD79h6o/PEh0PyXUHcD8XcA/Mo2/PxH0nj8k3UY9SlS5vvpcAkAN7r2+3TFUvzjStr9mD+e+gjT4vu3xHz9Oea+/'
    'yo1Ev1c0qT9cF/89I0+/vwdPFMCTfYQ/dmCtv004BMCHAoa/csctwLQzAb9pPUq+UqAZPvheLL/EdXs/RAmaP+sYs7/c87I/'
    '0iS0vqeMQL/HQxw/dkoCvxi1uT3QAD0/x6Gyv4jHpL2xyMu++6++P6zqUL8QQpk8oa3IP4MHoj8LeKG/IbmPP756Xb+IRG8/'
    'AsHbvllQ2r0+CQhAIfEzP698wT+aVCY/b2jWvuD+Pb8Wipg/s51xvpw1SL86ZyE/MVAoPm9/6L21WZa/cDG6PwAJTD+CLco/'
    'CsUDwJa1t75anpi/OwSMvydHEb9E7VS/bebtP1J40T5EOYq/ATqBP/bxKz7AHJm9oU4NvyjFA8C7H1w+mVC2vE5Apb9nYZ++'
    '+Y8/P1WrTj6+Pd++kDW9PjRaJD7uPC6/HnbOPfzZI8BJNfc+1fCMv2WdmL8D4tC+WumsPo2jUj7NNWO+ze8BwMXkwj9o0zk/'
    'sgfkv+O4kL8wJno/BH8cPztNmj+zfXq+/dsrP3+l8r4wQzQ/DFnwvmHcJz9fZ5u9IZAJQN+Wyz5CgbW/ABNSv3B7Ir+GHXo+'
    '8Ru7vpfMmz7XOXw/5KuEPxhOhz/+QwI/6AbPPiOaQj9TTI6/VsKxvlJY/D/94mo/PDlaP/2/Cb+SgUY/y/9AvoBExb/z9r4/'
    'NpyTv87wlbwV5R4++hHPvFRa3D8dQKy/g2MDvngvQz4eESTAdWSuPIziDb7Pi58+/ZVuv9Th6D6l4aW9iWDDv9fqHMBwyg7A'
    '/ubPP83tp77KVH+/fDesPwbS/z/Q9iA/wQx7PnZkaT/hUn+/ALTYP9t+U785sYY+w7etvxVMOL/syMk+pTs8v4aR6L5E0cU/'
    'o4RfvzTuRb8euv0+Xl+Sv85ThL8qabw+mURvvpJHQL59e2U+ctvav9lEA78FiRs/k4lZv0A9kT/eqBO/8SqCPdBNSr6HRQXA'
    'jd6nv03hrL+OMXi/PcXXvGwV0T7qYHu+6ijlvhFMeb+7qqc+vbOqPehvBz6BMhi/9asyP2eKMr8hvYM/ciNcwAN+xD+LMoi/'
    'VXLUPkOa7b6u2pc+w2BWP4uODj99dQS/yC+FvCFeDcA8L7U+n796P+F5bL5qHWE/onyDPwFgtj0OmkI9U4qYPfzZaj8daou/'
    '8FrxP0u30T5ybeM9U9N8P76nNj3N/Sm/7LgePyrI3ryhgJ6/tfpQPx6LlT9bxTq82mxgP0fPab9a00G/+FdxvevIFz8W1kg/'
    'r96xv85tB8CrtjA/JJfNv9lviD4zLTC/bYNcvzD/HT4kuti/xs6Uv96HkD2+hOe/21Qiv1TOxj/VOCY/s0GSP3ffDUCs/8W/'
    'E1C0v4iGKsBRv3G/YoDjP8wFT74uKyk/L/UwPukhh71tZHi+SgoLP6xxzT88xYI987rTP56YFz7BNBu/Ad9Mv60Fcb+l/q2+'
    '4EyGP5JT0r6sAOo/nP9TvgoBCr8i6ew9kcxQvFzThj4mVxs/yZ2OP1q1gb5wlwhA5bp+Pewr6j82Gau/SrOcv5ZciL/ZlGY/'
    'JCA6vzS+MD2F1Iq+b/7Cvw==',
    'float32', (16, 1, 5, 5))
B = None
GY = _array(
    '2fxuP9ZLjD77YnM+hajHPl2AaL9IMsY+tlpKwOfeFL87iQ+/CdkKQA93gz9k/+6+CrJCv/flLL+J728/qZRyP7vNvjwOvEY/'
    '3w18P8Zvn75R1dU+KzsoP1BQfT6OBTy+M5EtPkjtpD/W3mA/xVaSPZuD0z+fW+I+eQM0P9oUpz8mblm+qxYKP41Krj/VFcS/'
    '+rwOP/T0Qb+6jOK+obNOP12SIL87evI+XbJjv6Ix4L7Vj3Q/59geP2WSuj/Y8Re+PVNCvgvMFr7UcNO96cgSP9Yz/L1MwpA+'
    'jKOIP2av5D9IpaW9b+gEQEJy9z5r6Yo+pBfUvmVYuL3k1Po+uxlHPzalgT/xrp+/A/CbvnJBRL8an5s+Nv5Gvy5tUD46YoA/'
    'XdxFvs4p3b+NW94/wOGYP5OqeT+sKXq+CxjePWZbUr/rvFK/OLwoPx5MTr6CG48+BqKvvotRsz6wE5s+S6SnPk3ltr64qtW/'
    '/9LHv5VlS78QYWy9XjUNP7unOT7iocg+BgZJPye8Sj9Zz08/ZPnnv9aKZD8UmlY/4OEBwMJjPj/c9iS++trCvtFCFb5HqYs+'
    'Xb+Ev9jUkb6V3Ki/7lyWPn3fir7bedk+mbMdPs7rhj8QkQPADsytvbGrkr9h4OO+rWncP0O3vT/yuyM7a0oKvgH5Kz/matM/'
    'up2IPuN8Xb4=',
    'float32', (2, 16, 4, 1))
BOUNDS = {
    'y': _array(
    'CT0AcQIA2TYJPQBxAgDZNljGEa3ItIM+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk298h1INvQsD4JPQBxAgDZNgk9AHECANk2'
    'CT0AcQIA2TY6mGIluhKvPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNiftFPnqnaE+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2'
    'lwG5DyxlzT4JPQBxAgDZNgk9AHECANk2CT0AcQIA2TapoxfvskDFPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNoU/b0rOLMA+'
    'CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2+QK/OpTMtT4JPQBxAgDZNgk9AHECANk2CT0AcQIA2TaR9B1Tdni9Pgk9AHECANk2'
    'CT0AcQIA2TYJPQBxAgDZNix4fXMi7NQ+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2Liky7DL1uj4JPQBxAgDZNgk9AHECANk2'
    'CT0AcQIA2Taksgt2LijKPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNpj2gkYaqac+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2'
    '7+M29U8awD4JPQBxAgDZNgk9AHECANk2CT0AcQIA2TZbG4sMuczQPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNgB2i0Odhp8+'
    'CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2XJCPI0XmkD4JPQBxAgDZNgk9AHECANk2CT0AcQIA2TbJ5sMsFB62Pgk9AHECANk2'
    'CT0AcQIA2TYJPQBxAgDZNk6lpeH3nr8+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2lqPIfV2atD4JPQBxAgDZNgk9AHECANk2'
    'CT0AcQIA2Tb8qTMCxPrUPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNqJIuPCBpcw+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2'
    'g864KCrEyT4JPQBxAgDZNgk9AHECANk2CT0AcQIA2TZm7cm2eri/Pgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNjLCFW29J6Y+'
    'CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2Tf5HhpkQuz4JPQBxAgDZNgk9AHECANk2CT0AcQIA2Ta7lA4+VrKXPgk9AHECANk2'
    'CT0AcQIA2TYJPQBxAgDZNvEE+lIQUbM+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk28h9VL0+Wqj4JPQBxAgDZNgk9AHECANk2'
    'CT0AcQIA2TZh8PQvFiDCPgk9AHECANk2CT0AcQIA2TYJPQBxAgDZNp4rwajXy9M+CT0AcQIA2TYJPQBxAgDZNgk9AHECANk2'
    'geDpe86UoD4JPQBxAgDZNg==',
    'float64', (2, 16, 4, 1)),
}


def main():
    x, w, b, gy = X, W, B, GY
    backward = False
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    try:
        out = run_onnxruntime(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    except ImportError as exc:
        print(f"cannot run: {exc} (install the library named above)")
        return 2
    except Exception as exc:
        print(f"REPRODUCED: the library raised {type(exc).__name__}: {exc}")
        return 1
    truth, scale = reference64(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    found = []
    for name, bound in BOUNDS.items():
        got, want = out.get(name), truth[name]
        if got is None or np.shape(got) != want.shape or np.asarray(got).dtype != x.dtype:
            found.append(f"{name}: shape {np.shape(got)} dtype {getattr(got, 'dtype', None)}, "
                         f"expected {want.shape} {x.dtype}")
            continue
        got = np.asarray(got, dtype=np.float64)
        if not (np.isnan(got) == np.isnan(want)).all() or not (np.isinf(got) == np.isinf(want)).all():
            first = np.argwhere((np.isnan(got) != np.isnan(want)) | (np.isinf(got) != np.isinf(want)))[0]
            found.append(f"{name}: NaN/Inf positions differ from the float64 reference's, first at "
                         f"{tuple(first)}: got {got[tuple(first)]}, expected {want[tuple(first)]}")
            continue
        finite = np.isfinite(want)
        err = np.where(finite, np.abs(got - np.where(finite, want, 0)), 0)
        over = err > bound
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(err == 0, 0, err / bound)
        worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        print(f"{name}: max error/bound {ratio[worst]:.3g} at {tuple(int(i) for i in worst)} (got {got[worst]!r}, "
              f"float64 {want[worst]!r}, bound {bound[worst]:.3g}); {int(over.sum())}/{over.size} over the bound")
        if over.any():
            found.append(f"{name}: {int(over.sum())}/{over.size} elements over the bound, worst error/bound "
                         f"{ratio[worst]:.3g}")
    if found:
        print("REPRODUCED: " + "; ".join(found))
        return 1
    print("not reproduced: every checked output within its bound, NaN/Inf positions equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
