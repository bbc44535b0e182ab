#!/usr/bin/env python3
"""Reproduction: onnxruntime-noopt n3c16h4w1f16k4x5s1x2p0,4,2,12d1x3g4b1 f32 (crashed)

Candidate onnxruntime-noopt: onnxruntime CPUExecutionProvider, one Conv node (onnx.helper), graph optimisations ORT_DISABLE_ALL
Case n3c16h4w1f16k4x5s1x2p0,4,2,12d1x3g4b1 f32 (forward), failure kind: crashed.
Triage: library bug: crashed: the worker exited with code 1 (the plugin ended the process: os._exit or sys.exit) (contained by the worker)
Library: onnxruntime 1.32.0, onnx 1.23.2. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Declared error model: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32 for bf16/f16, else the storage dtype, output rounded to storage, bias before that rounding; BOUNDS below is that model's bound plus the
float64 reference's own error, per element, as computed by conv-oracle.
The reference is a float64 direct sum over the same (rounded) inputs.

Run: python onnxruntime-noopt-1.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
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
DESCRIPTOR = 'n3c16h4w1f16k4x5s1x2p0,4,2,12d1x3g4b1 f32'
STRIDE, PADDING, DILATION, GROUPS = (1, 2), ((0, 4), (2, 12)), (1, 3), 4
X = _array(
    '0lQ3RZPqvcFJrxQ57fiPxDqsIUNVFRe7sQnCPzq9qEQ9s2ZAzysCv4hI50UyClvBRyEFt/x76kLfacS8UAIBN9JrHb8+hbw6'
    'FC5LvEl+QULRgwpHiY8OwtszKMGu5ZdHLNBCRekI8kWajS46hyeDxY3XkscWUf82ndL8OR7LqDcYNC1H2htxxJ//vUFm5xe9'
    'ZegUuNaHM8dhykm+gg/xwqPtbj7W57tCuXebN8tl9TkDsdY5KPwcPba6CTiY6CdCtgF/uPHwcsVc02DEfPlPQpi7jMHXiie/'
    'bUXqQDIo7z2OrLO4ApebQ1juljwsyKFBfPUGuHZFtb9573zG+5GDNh7H8T86NupDXaQEPnk0W8C+gcY9q16YORIWx72MkLk5'
    'es6suVuYwjuM3gDDbOomvbQHJrvTi3LDyJ44vcfJCkWoTB8/WkjnuoN5QUJ1EQg76E1et6QU4kQO0+u3G1VFw5CjEkdnWCe6'
    'M/sCvst7e8QHLIo+Wha2P/UQIzzNFaE86L13vgA2D8UQjBq4GOJJPxSZOEBcw0dHafX8u14Oz7zUkDc+ydvtQ0zFvD2bkI9F'
    'uWFtw/nSL7jjzhVCsz78NvKnurgqPgw/L8HoxPQfjjczhtO4BLo2RsuKHbjaNH7CJk0auqSLp8NyaAHFKZG6QnFoA8J3/qE7'
    'WToqwKASksEnypNCNBeKQoqPtjcTBzpEmm+rRrGQT7rnc7pEgdCBuUMKnjfbioxEeUiWQQja5r2lTSW8yc4ByBticTpbKwZC'
    'vIdUPcFVQkUca2a3/qbAuhL5osQm2eG6ypwCvbPpmrdpBFy4zHiZuoMGdESUmFe+irXhwFpFCsHS8FTF62nvPHR4hUItZ0nH'
    'Dtq1ur3FxLlxMWFFPBHhQB7BvkK7lS+9qHMHuW2AmzuvxqZBM3BoQ3Q2S8ZkxQA9IXf+w6lU3T5IVm1F5Ak4wJYTC0J4r268'
    'mllmw2gfoTiWnjm+qbjERxdXNzm82ntDhBSIxjet00NaV9+/meUWvB+JX7lNLTjG',
    'float32', (3, 16, 4, 1))
W = _array(
    'intdRPJRBL3Jfzs7ahQ1uIdTlsWL+vdFPtMeuqftZbzGB8hFDZ3tt6Pdd0TGJY+6z0eZQi99lsCV1crFwW06Q9jK2kMmYEo2'
    'xrC8O+GnDcMhveFA2dysxWGRsUX3HAC/xUj6Nn22EDryGxs3pVNNOpvSgDyM64/CFuZYwjwCGkO/GKzBbtDOQj3S/jzIcWDH'
    'l22nuOeCKUKmbX/B6u6Dw7EqDUCVzR/BzR8MRX56OMS6dRC9wMaYPrqq50A58CK8xa5DxVk+WDkpdrPCPfX1v1fdkr3SCsY/'
    'DKgLvBmiv7c0xtzGdlQcuDRADzvdybK/ZYa9PJ4lXL/L66i8Rpj1RpWdOztLyHpEojcpSD9mn7wcRDu49C1fu3XewUbRX0m5'
    'q/FgNg4nu7jZCxrAZ5nYuiqMA0DGpenFDsd7P95ZQ7qVkJxAnB8XR4FupbduN37H9fK0xKENr8SpBZw9ITSzupezlLhQw6W9'
    '6MfltfrqrURsts8/jrdswSXaKjtkyqXB5SYLRgUSIL6syjG5mHhdvswYNEDHlyA7/xInueVrzzqcxIS7xtumt7M0nzimlhs9'
    '1AX7ubga50QGzlrAUnQGOIvfQ7kQCzo8lx+EvjXQ6j7zA624rMDTw22XCEV+CS0+G6hTwhrlYz9UP3a5H4Rexeu7kjrDaJ83'
    'fiX0wg6ckcez2pO/YK5MvIit9Lf6IQ05BZOkwblPRMXAgOXAksAavOIktLzbDxZBxcQcxKI70j+yvklBf6jsv8dKwzv+hzK8'
    'IxlywmE8CMJb4tBBVKwjuKXBG7mXkP3FdkV9uRCIzsavd5jF2kmmPuF5AMdRklK5q4oROSpkxrmC82g3iiLhv1wIkLkQpgk4'
    'vjg6ReBPEsbyKDrDu8gRwAOabLu2zgA9wOPExScBUD/oWMZABWrEv33WL0Vb2I9EGQOGwKYILMbP2n/B8dmSPM53bjtLHrpG'
    'hGGLPA8OpUQ1ct68QXpduy1poUSXQKC4NrrPv8ATMkIrayPD4uCIwQ+pUsCDy8e26YDcQVcAB7gt6BlEaJ6HR5zFfLuPA2u9'
    'I0eKxd81HT+7gaY5VKLZvcvhhL1jXw27Qs6zQ4GRE0Gfflo5rs/4t6lQUzhFUN5EEJ0bxKVmxjxlPv2/vliyPvcqm8MX1iZF'
    'rwalv34+Aj7iJIXAv6unQxGgkT5CcR8331UWROG3+bhuxXu5P/YCOpHQN0T2zES/myYFvD30CMfpE0K+Zm2OxMYviTx5POO9'
    'XoTeQoABWcTCbLg4UnDtvjDY8zjXj/BB0xY5vA1cuz7jv43DugiFwPBejkELli49vptJx5og/rybwJ69MW6oQvfGvblnNk85'
    'DHXMP9aTqUJdoh7A5VoDQfnbKUJ2CIm6Y78DRE8T+8OXC7K7eJUUSBnZNz0vm7JHUF8nu7BHCcFvCYe8BMdIP7rHg8IBtGO7'
    '+hZ2u/64nUX6raFFs6XDRGDjlrsb4gvBz7lTxD9FFEJ3ANVE/32Gtlg/EL5mtwO7Bt3qwBrtbDogyVlAl6BBOAnT37z7ZqJG'
    '6thHxGerALvNB2TDx0G2t0srLEOC9mS88xrkO3bolzyhWGe7YyF+Q0XtMLgExis/hQYRPbdWq7sQ1PQ9zI6WPGp/ND6NvNY3'
    'xY8YuHCAHb9Z+ypGWhnhuQa7XD1CV0g4Xw+tv/khmsPLC0nEMA24O3WyYbtAXwE10tsbuC+4xrdu6I276+TdvobE3zdjQVxD'
    'mnvNPac/oj00otY4KRwNuV2aTcc7holBJkZTw5upiceNSRI5UVkqRfdv9cIy0UBG+tjGvVLnwz/WC2/EOLCvRdwv+ba86fJC'
    'dYLrwCIj6bwlOZlEWq6Vv9qcXEQYMrE6+3R1PiYOebyPGahH+mOlwZwF5LacM1dAD8fVwr3rDUfxRuU9iqeGuSM7oMWVdovC'
    'ojRkOpIznL29Fwo448QAQqiMPkLWXQJAEb8PvWObOrkc8cE/JgjnRAlh5zxt6Pq+0Fr+u8FbwLli/By5/lVaQkANYsXKI8Q+'
    'wuuAu3s6ATof5WHDRQJ9OhWsH8TtKG44ThBnPHrYAzmaMoA5xr8ZPhxYiUJ9SGDCka60x8iwvbk3zBC/BXmTvbcRKL0o4KI/'
    'DhLFxnQkCDlROhXEw7/dPeMf0DupcR5Ht4dAxkDP8LlVv9u2cuaQNyltuccmT0O7PVq7t5Wyx7j6IAm+AdFIR3SN+LxGE/dB'
    '8N9dvWq/9LubgLI3/uqrRlvbGcL/TLe6LdmbwbxLAj5iVQ6+RKPytzCIlD6d0xw8QPcFOBC/dj4MQrO5McDcRKZXpreOaWa7'
    'spWuurtSpUGg+gs5cIWBxYHTTUSf9sND7YjaRgH/KUXn/ozAVdrkOS9ZhkVt7dS3stwKOXUnPT7rtKTCOkGhx+HKdbdA/PFE'
    'd2oyPiNuFT9nOKrBzBMMxT6RDMQrPH7C4e+mvjO40jhUvEK/5UwOQPH9ijhZbA64EpzUPV/O2cFkri3GdAvCPUcE6UDasA1C'
    'SBHHuZFv2sNksoo9BZgVwG7O9LhzYyy8vR10QL0MwTiE8JNGXofSuwqIfEK+ENxAl+gOQ/4xIbnKbkVCJx4YwAqmkD3/ggRH'
    'Ux2tNNWcN8O8MxdDbHsMO8Yq4MNEH+lGN0LzvAXourfFLJu60HNIRja72z5DUaI3K7zFu1gRGEYrGYpGEnf4Qhpp+jx0Kq9H'
    'Y34NvEntqcVTRORCgZAgxS7MoLhuz5vD29GtxPh/HUXoK0a34kBtP+PTnEWnWw096xocOwTpGsPsNOdFTD3UwHEDFrsPiJND'
    'y13auDH1GkO+VGA75vadvrictEeJ12e39IqQO6agrDa9Zww6EolnPsVFEruV9xY9y1Ovwe5kmcbVXYfFcMKXvK+nWz34eVS3'
    'MRISQxAlpzhZW5rHHvBMxQbEz0Cxy9JFn1BCxXmxJcNL+g06J4szQqBWhrmGs9hAFxyqO5eKNj9gjYC3V83HxaFii7ZHgZ68'
    'DY80QGnpBj5L0Ia6tdKQt4Dt3kHey7u2R0XXuiRSjroaaKbGUWCnwrW/AMN91bHG/7ujuTBXWbqCJpPC5wlexHiho8Ur5qw3'
    'way3xivypkdCdKxAKa6cw+tjUD5I+S68OWm7OHAA3EDj9ka8iKc2xi8RSzj2hBBBmf9fwmw/gDi7u2rBeLnaPD3LSsMBKu9G'
    'd6fbw58/MT5NYZE+4mDCQZZt37qnjAlDurIkPXA41sKSynQ4yiFKRbOdXr73shZH5Crrt5FNPUHAB1C7gjOjOrwQiblPq8dH'
    'WduDQGiI6j/UD7e9Ss2CPmk48rd7T2S8SaZCuxHcErfcvAs8SMBfOOfbjL/ysUVAwQqXQeU1gUU3EOM5XyZtRNiB0ca5OphA'
    'd9UUOshc5UF8yhpH0SW2uCT67TzsAvK9hLh7t2/wST7qwYc3RHykQwtEgrgYAGM8HdEWP0Hkdzi68ZzE3kjyQ/GVqbx0wTW9'
    'RU/1xi4vjUDOWnk6RyKrQ0gUdMIxQJm3XlOEvfu0TT9JoJtE/RjWxfhVjsHoebY/oseBwLFNt7zBaIw5sDk3w+kLgcKMx1U+'
    'XX34NqQrETvyjzY3W8NUxAv/GEaSF8LBPs7oQzQGqMKAbDi1GiorN39gMD9xVuhClw7xxpJYproz5bNDLllzOX1/779u2p03'
    'zSvVutiYNDqshLVBA5YCPAxuR70Lqmi8Wau9OFR/hEK7PSY4K4q6O3bWZLzaMr897qcIwGrftsRE1LNGIaDjRICs28Ollve3'
    'tjPzRAtLGMX3XuvD64Cpv+TfIzjCm6m/0VhCvEvWkz82DRzCs8nDOf7cILtCd+a7WT1/xSOErcMsHbFAYQg0Qpk02jfuuL64'
    'nh4BuhNxMkAJ3CU5vCj5vjxwv73Pn0jE69GAPfdwwMNXaQe6dywJPB3G+8POpDi7IkNzvwQDGTtanhZAaXLDQF0nurw+3gQ5'
    'QXH9Pt8TPMAdD5fFsFIrwZ491r6rgKPAtfbvwoWByDwbC9k6tKahxzOsBjjLlZu7jfA8QyMCoTsWZ6vB/PiAt659vzZ22Q9A'
    'DXeyxePX4bpU8Eq2BcuHuV/fHzg6b4XBBbK7v8WiE0CjlRc9jkYrNwN85rpDRou2D9UEuwIlZjlboUm6iFljuGJB08Vsn/G+'
    'D+2eukpdgkdlSYxCHemoxUk0DcfoWiG3thU0tWq8iMawvyw6prcLvFxQA0INESA3NC9swFdCEb6VG//ARXA+w1RDGrnj9xY9'
    'FCbuPJ2YycUiP6a+ykSOtzelZD84SP9A4Gy7RmN6vTlWdx08GG/NQtZuO8M4+bS/xlxWQBDvmjt8+zo/SWi3t6IYkTjhLKfC'
    'SgQNxp6SPcFGP8y5aotFwXC39sNW5xhEmCrcQtAxNzli6e644ToeQ76SwbpQNonDl7KPQKzcyMJkH8lExur+wiZ4sL2unSI9'
    'cn8kRnPWgrt3tdtFXhj/Q9I0OMPTs9TEfzvYxYdBWj0zTTQ9Wo8WPWhA/MX43BpGZpgIQvWTmkRYRKq3yyF0whRRacO9yRm+'
    'u+Q+Re5DFbsQaoM+BNIIPDkt+0HxTPK3FCOawhga/0TZtCA7cfpwQLkCmsA5XZq6Ib5LN5dlgEE9Ysu+8JCvPyIsXr+gIgVE'
    '/tMrQm7QF74qRODB3DeyPq66o0Cf/cm/KixTQxufKTcJhHa+o823xrYxWEM3zCW+FGXguFlTUkH1RPe/lb2eRWjhVUMigTrE'
    'yTIpvPdNCb4/SgI3EYySRuYngTeskCQ2Fk+UxVcsrUYl6FI87uXVuGWFY8VpG1RCPBfnQIYLD8TtkD+4yeGDOOMnY79ItSa+'
    'jIOpRS4GI78nwCM5razoxEHprEI/FbhEJ9fcuYOmE76u/s7CJEM1uAIcEEUlfLY9YKuROP0roMfpoIbGErrZN472uLg5nN88'
    'YyYkPoJDgEIbfAdGvUSRRR6o+7h+YGfHcmKYuRP74jvllJXCPAfXwjToPjepV2m9D96TQn43F8iJaQPAs9BItx7asrzmhcG8'
    'EN6tQMAJgD0dOr08k2xEPg34pT/IZYI6aJ25O7x1hz9yO884vLzEvB0fBkQ9JbG2Zm07RQ8ufMeL9xjAja8lxCwkCTfTzzxD'
    '5OlZQI/xykK3qZA7m9IPSG2bdESr10lC7yJ+u/bHGztXgFg5rWKUu7q/48amTJK3qlQfthUozcQ5rG1BwkZMOk8EPT9JWKjC'
    'ADSMv5fMi8VzBNBDa+rLulH9FrnWRitDGThZOdn7/kJ1rLVAkCvJPCkK3r+Y7yQ4qVgOw/WQhzjY6To39O1fugmByj5As8DE'
    'f3V/ukj/scDRJn49F8x+QgoCQ0F89fM/QQqew8QSCUG56wa3Ww2nRJXXrDgENQA4pLo+xT0dRsWbPbO2EHLeQXTtIriMuIi6'
    '7Mtux3SdPEHh0Zi8HWh6O1yzpTkWHzW5UA88wb/vtDasPT24GKjPuDQFrsLr2ge6iCeJPIPGDsK1iCvEuiMFxD43SDW1cg45'
    'ReB9QFQX1UErVzG6aNSPuY/GPz0CC6pCr4KPRqtoB8DZtL43+sNlwFGAmMQoMiA7fzRuNxn62D3LfatFZySgROutkz9EIJc4'
    'sJHNw0aWdUUOhuZCRkZgO/BPDb4/uMI+WFhUPYFUscCDnRpHmahJvJE26LwbmL/BqaUDSF6cILZ8p0W41minPkf7AbubUo3E'
    'vr3LwP0wjDqC4bPEDbYwvSGUPcA7VeG5g9oVwiOBSEGb9yXHWroMR1oh9Lgb7w7ICLU2wXbgJLtygBs+dL1Jwi2fU79dMo44'
    'EwDJt1aMzEHE/hW+L+SHv7FzKMKymIg4CJAZwQeBkjdSa7y8yZsGxepmkMKvVOBDp648RtuQvjsgOCS4q7tmuV9dermY98E5'
    'JbqvPxJgITpKcA08vs3eQLPvXEAB5zW9dtXbt1i4FjoAVzo5YDdUuIhvRUBzRBM4MNWixoFZhjoT/1A7qXoowJnQrEPq7ry3'
    'k2VOQKGYNUN4rT+8ThzduW2vPj1+sSlFeXEnuuG1iz7jECW4IjFfQ7aO4TkMyw9AWZ4zQMYC3T4w/rK4SE4PPUwWgT8NiwRB'
    'a2aPPGQO90YTAEFCPKs4OfSkz0WcugU30ZQhvRer+zes+2xE9w6JxKIPW0Zcu5y+z2WfuvUa3TqSTRw+Efb3PwRygEAFrgXD'
    'wDLlPt1SAkY+gqW6VBjPxauBIkNolXxDBmBdRiPlHEHRJVk68LbNOTJter0bKXhEtAIUvtRwnzqicA86rdGbwnNlIjyWVJY/'
    'qL6Uw5+1I0RtnVi6RehTPwL18jqv/J5CWAkpu+d4UMMwy1g7TglMRNI38L8bekLC8y9auNF51EGEw6U7rj3aPUN3CT7JEJ5D'
    'Qub5xGsP48YPSbNDPO+IN0HvDryzNr84hr3HxlZRvsd0/zZGHnybQzmPpcSiIgM9rBE5O00+r7qXOWjHUW8duBnjI7qvsIy3'
    'x17PQmXUJMM3LLFCNRLXxdXpncSbSo+8rkBQwo4b7Dw+X368/U/nuULoELoL34VF9bCWPlxE1Dhsa0pD09T8t3N3YDseLfY/'
    'RQrfR4sN/rbXX/W8V8+RRBb/tD3KAIa/og6zuM3q2D0sUJ1DRSNeQoqoN76Lr93CyrE5wpi3XboVxCI8dK5jQl/NlLjrZKPD'
    'jtJQPaRU7sS/QR+8mTq6tzL60cbTxipFZdlou1leST/Ahj67sFNduI4UxjojDljBvJ+Avlx3D0bfMeA3oqPpwG4kBjuE0R67'
    'I6r1RYIQUbmP17S5te2xv7OL4EBN6o84N0CGQB4gRsKRTf/FsgR2RLq5JkJt0s68rbj8RTmqtLrDkys/l8whPunnXL3G/CvB'
    'Q9WqOu6h27s=',
    'float32', (16, 4, 4, 5))
B = _array(
    'e9PKQLU9proGEOLAGHwAvEzMxcFdGoa+IlYUxHtqJ0ZNodpHy3XbR7SjK0K/Y9TExT8cRIPkIrwYNwvHCYgYvw==',
    'float32', (16,))
GY = _array(
    'x4YXPe45g8VAvGu/eDPrODEhl7kSSnPCY9n2vqDE7cGvpUg6RYgAvuksc0Lml9G6Jc49v41dG7jhZ0y6FZwPQ52EuUfDOGw9'
    'XfsaO3XlljnV5fA7uyRyxqcxqT8eZpvFvNwQPHiJKcfTdBO3vwbrRUMKYjuzpZc5dBlWxLbbtcY2t784F+lWRiZX3r37y5VG'
    'GlVMQxV/38LEwqxFfCmdPaVzjsLfVgS4d0Uau26eHUFVxDs3ixiwwu5mLMMZGoZAxAvXNyWDijtBarhBRsVFxkGAbLr+P8pC'
    'gC2OOYR3y7pQco08A8HnRhiqYEVbGQY4/vu4wllyukRqgGM34REZxF2MbEKDk0C/brlAxVCx2EKDcc5CGw7AQrXUeDe+o4zG'
    'sh8mQjYvhrw5lkDFkLcUvDVEGjpr//1AHWE2PEaEMEDW2g5FIEoAt9RdizoKK9U49O0ot8M92r7aEEXCd3CGQtUaUMWcbK3D'
    'QznlOjmLAcF4g/G5NisAPRS41kGUlLRDAzCJQoeTJL7+4ENAOKJ8t41nADk2hxg4TqHCvjqXl8JZn+k8bRcivgkYwsN/TVPC'
    'oqYrP61KXrko3w7BImn3uOcOnr2g2zE8pvenva5vUz2s14DGFnrDuDf2Qsb+2YFC6sN9OSZbg8Dr06q8RONXQXdRh8E2YlrC'
    'Sc6Qu25MIUahcQdFFq6RwuC7H7s/ZxJF/TSNQ69UZrd+l31CzQkIvmDIiERb82nEHbETv2+dCLiwb8u+MkWju/l2VbifFo1B'
    '5OR5QJERJTgO0dU4W/qcRjVyrLlDD2G9sLihRPPYArqEiDJDSILUuEWQn0QbaW/DEv3ZOiZMlEC19brFCtycvqTZxMaX+YjH'
    'fLCaOrRJ/jofPrZFHc3mxytPkERVoaVEiwwKuzHAkLm7QBe4uf4NuE6FpEUZLla+RHstPPf6KT2IVjQ+rQ+YtwR4NLmsivlB'
    'vuCJN6r9RcPHClm3LZF+vAH+Yr3SvBC+MX2tPvngIr76BZq3wruVQIjRmcOykq07w35lQKu0CLfYWzA86tDmwpXKHUQ+lShB'
    'x7KBvf/B1bjmXNlCMew3v6w5GEbqWIRFglvxt+FAXLb/HK+zf6IHRtGwkMaUPp04fb3WNxYhgLhi4UK92oVaOraNazztyrlE'
    'XPcXQbtpabc1Pso3f/FkvNKZ98NJfuG8HbuJRPsyTLzQw4NDVWeeOPaerzfiW7lH3UkAQzSrTz5HwL5GvfgLwx4ENMAqtb+5'
    'kEsQvBRqCkbssE6/zJUsN2aC5ULoT0a4X/YMuSxZBcQhUMxDQOkjNzSDiTdiYANCdS3jQIMXn7Uz9VXCx9HavwCWUjmpoxHE'
    '63SaRkBdxcFymp05N6bZPX6kg0Bcs3tF0AwuurjDY7oFoQrAqsaCu8OZWUQwaI/CZKO8urOCtsRDKW26dcikvPDig8PrY5A6'
    'YRMFwbgscMDf9hfB9Exot7ryYr8uApu846JKOO+ffD5pUPfFT+mQucoZ7L1z9zG+l7XTwP2LsMZYx+W6lZKlxva+w8DGOr2+'
    'n0pjO406s7aby6O8N8ZUxr+2GLn9lag4p08hwZKyHUW2GCC53pGGNq+EuL2EcMLC49k0OO/Hpj3HGJ3GUL3QPqYaCzoXBnQ9'
    'ZZytQz37j0eKhiG9+t3jxjmkrT5n1Ku5L+D4wkxJIUCvAA3DeOUiRXC7s8VbMkbBNnMWRePtwMKEEn0/MaCyxeyq08Xih+A7'
    '9jhDui8RzLiTo0JBnSf9vMMDMEZTLZNGEKJlwR33UzhmH4u5F2/BOkhiwz/Q82w6+cONxGRtib5mAZQ/bEeGvWrVODrneYe6'
    'aNkVuhreS7uPCQC7mFtGv9M9TkJWKds3P/22ud2Zv0Y+RuY/8yazQ41dK7/ItMM+BAcLQw1f5ThLYWe+VyQzuHXDnrs/EVjE'
    '3M0bwe4qsMXuK34/OdpcRr5GWLi7svJBX3yKvesqPzok7hU4JqCSu2PkiMVMxhQ3HftgOzv+7j3XXD2649axt3MqcUXomAM4'
    'mmkNv0GdED9gPMG+KnNFwIGhJrke18zA4u1sOEVkBLhS8B48oQdSugrYRrhcdKPCAC2awXrwkrgCsYg/k3h/N+KVpDxCNI9B'
    'aQ4KQJwVFMNvLEA/fG+swXHghz6T2m7DcYILxTyhrcWiTVO705ktwm1soDbXxQ+589XsONu2a77ca/fDiCKFwm9UGkMusu68'
    '/QHcxYqrqsP/jfU/zEqFt38SBL1hHK/CWUrfQbWfCsO5b485VCfBO8zxDzdjphW5ZDKKOqo8Y792Hr/ENHpXQgAmRUGKcL1F'
    'MITkuUz+tznjVtxDdECLRjdDRzzdTdHAJt+yR2GwTMW0WBFGgRwuQcrg/kSvjzO4PGRKRweyTcN4wyo7xGKwuitTjkO3Vhe4'
    'XMzNvb0/ajnyfi9DgbcwwMOHMkKEulRCqWowvsmSLbw+GTvAQ7NPvKXIvTyFp1pBgQx4ulPlXEF260dEGAsTwvGjTcP1aWs3'
    'XyPywkaFcT3fz2O7Grqow2u9osHlnIfFcewhwSymOkF7it45+EZcuT8aY75GVHk+',
    'float32', (3, 16, 5, 2))
BOUNDS = {
    'y': _array(
    'r89Pjz8LAD/kWhSt/4t4QK/PT48/CwA/wy5XMKrwF0Cvz0+PPwsAPzpEjEJPGkZAr89Pjz8LAD/2CU9C9+MTQK/PT48/CwA/'
    'r89Pjz8LAD8nLHF2y0w6PhTNbAJ6tdc/JyxxdstMOj5BJ3uzkNaePycscXbLTDo+J87PbkJbI0AnLHF2y0w6PpW4NNVXHKk/'
    'JyxxdstMOj4nLHF2y0w6PgURDyPK4QE/4Jfe3YTBgEAFEQ8jyuEBP+V1r2T3UNs/BREPI8rhAT9bGLRx00iLPwURDyPK4QE/'
    'VdR5YTY1Iz8FEQ8jyuEBPwURDyPK4QE/nXS9O6hTZD7HIrfScYAgQJ10vTuoU2Q+mjBKrf0Yjz+ddL07qFNkPrMG8QJDVK8/'
    'nXS9O6hTZD6VGqqonTMcP510vTuoU2Q+nXS9O6hTZD4EQ6Tu20ofP/R20Qgj0spABEOk7ttKHz/rP2l9Io/fQARDpO7bSh8/'
    'kKWmpmfA3j8EQ6Tu20ofP4HSF0KNdSI/BEOk7ttKHz8EQ6Tu20ofPzVnSm4yN7U+gdl4jsNjmEA1Z0puMje1Pnx4aU+z+cU/'
    'NWdKbjI3tT7rl89Myg2BPzVnSm4yN7U+lGTQNLmdHUA1Z0puMje1PjVnSm4yN7U+KZJTz6d3Zz/ZOZzZQzKrQCmSU8+nd2c/'
    'dseD7G5sgEApklPPp3dnP0i2H9gfBaBAKZJTz6d3Zz9R/b/ZPe25QCmSU8+nd2c/KZJTz6d3Zz+CaYLYYHyqP/iyQxQWk5ZA'
    'gmmC2GB8qj+EZJEPEJ8YQIJpgthgfKo/o1qCxBYztECCaYLYYHyqPzpHhoGvgcA/gmmC2GB8qj+CaYLYYHyqP/tsJtFHS+E/'
    'yfE1E5FiB0D7bCbRR0vhP38IjrbldR1A+2wm0UdL4T/Zf0qzN0/hP/tsJtFHS+E/B1o7tgo45D/7bCbRR0vhP/tsJtFHS+E/'
    '6ff4zRZc4T//txlgU2ARQOn3+M0WXOE/yR7hamzFkEDp9/jNFlzhP3x2uvYOg+E/6ff4zRZc4T+kPgAo69cKQOn3+M0WXOE/'
    '6ff4zRZc4T9ociyTbicrP4BnmBCPUz1AaHIsk24nKz+pcJsHjJsQQGhyLJNuJys/QrYBNngMsz9ociyTbicrP/vAImEe6jI/'
    'aHIsk24nKz9ociyTbicrP1mVoi3pzIA/iY3RNSC/fEBZlaIt6cyAP9E0waJV8JJAWZWiLenMgD8y4tn5Q77sP1mVoi3pzIA/'
    'meh05ShSCUBZlaIt6cyAP1mVoi3pzIA/5CZNfh64aD+GTuRjPbKqP+QmTX4euGg/ujpsGP0aaz/kJk1+HrhoP4XzMIDmun0/'
    '5CZNfh64aD8opOjZ48BoP+QmTX4euGg/5CZNfh64aD+UJ4DiLsVpPpBvRwHQoJpAlCeA4i7FaT578ZV0BAVeQJQngOIuxWk+'
    'vXUIBVfQOECUJ4DiLsVpPsO62KJ5CvY/lCeA4i7FaT6UJ4DiLsVpPvcWWkU+BsY/LMnNt9UqRED3FlpFPgbGP47NKu7U3vI/'
    '9xZaRT4Gxj+AyRD7gf/XP/cWWkU+BsY/1j7eKqEGxj/3FlpFPgbGP/cWWkU+BsY/ILqfEI0hyD61omOyFFAjQCC6nxCNIcg+'
    'lDnjtNvH1z8gup8QjSHIPufZqr08M4NAILqfEI0hyD7Mjgzwu+UePyC6nxCNIcg+ILqfEI0hyD6vz0+PPwsAPzwpb1+oMTNA'
    'r89Pjz8LAD9/n5+wJ8FwQK/PT48/CwA/c4hLVpPGJUCvz0+PPwsAP9DGgdohk44/r89Pjz8LAD+vz0+PPwsAPycscXbLTDo+'
    '02OTmsWoCUAnLHF2y0w6PidZEa3hW5s/JyxxdstMOj6IQgEfjPXaPycscXbLTDo+1mFh66tQwT8nLHF2y0w6PicscXbLTDo+'
    'BREPI8rhAT94IX8dQcMjQAURDyPK4QE/Sy5aUW0hgT8FEQ8jyuEBP6PXgCXmwxQ/BREPI8rhAT/Lf93yeUJpPwURDyPK4QE/'
    'BREPI8rhAT+ddL07qFNkPsAcm4uWMsI/nXS9O6hTZD5ci9h6qLtGP510vTuoU2Q+2HOZ3iFAFz+ddL07qFNkPgEcb4bV5Dg/'
    'nXS9O6hTZD6ddL07qFNkPgRDpO7bSh8/XG1Tlc54QUAEQ6Tu20ofP4sNhDaMgFRABEOk7ttKHz/RFUGoos+GPwRDpO7bSh8/'
    'sciDMiEDIz8EQ6Tu20ofPwRDpO7bSh8/NWdKbjI3tT59eBsQcDkUQDVnSm4yN7U+XcfJD/rhxT81Z0puMje1Phm9y/MY4E0/'
    'NWdKbjI3tT4WKcOyqnWkPzVnSm4yN7U+NWdKbjI3tT4pklPPp3dnP8qpZCLg32FAKZJTz6d3Zz8IVQLVXXNkQCmSU8+nd2c/'
    'rgnm1Y/gFEApklPPp3dnP2abkon/1zBAKZJTz6d3Zz8pklPPp3dnP4JpgthgfKo/RizEnamKWUCCaYLYYHyqP5GvOR9Dbbc/'
    'gmmC2GB8qj9RlQkwudFoQIJpgthgfKo/gN0TMGOvqj+CaYLYYHyqP4JpgthgfKo/+2wm0UdL4T/IDzNUO90ZQPtsJtFHS+E/'
    'V9W34d70AkD7bCbRR0vhPzfvDGef5uM/+2wm0UdL4T8IEgnElAohQPtsJtFHS+E/+2wm0UdL4T/p9/jNFlzhP554Wo3IR5dA'
    '6ff4zRZc4T+vnvZtJKiSQOn3+M0WXOE/wbm+yph24T/p9/jNFlzhP6OqF6XtYOE/6ff4zRZc4T/p9/jNFlzhP2hyLJNuJys/'
    't8zgnlKYP0BociyTbicrPwy6PQ608ek/aHIsk24nKz91G4t1c9NtP2hyLJNuJys/sxY5cYs+6D9ociyTbicrP2hyLJNuJys/'
    'WZWiLenMgD/nKN66tdmBQFmVoi3pzIA/s1Q2u+pMlUBZlaIt6cyAP8Bso9N8kbU/WZWiLenMgD/ruSwttgpoQFmVoi3pzIA/'
    'WZWiLenMgD/kJk1+HrhoP7xj6VM4iaw/5CZNfh64aD9dsTReyj/jP+QmTX4euGg/SzhmYH3mjz/kJk1+HrhoP8qejKc2gHM/'
    '5CZNfh64aD/kJk1+HrhoP5QngOIuxWk+ALyYnCAL8D+UJ4DiLsVpPqv5hld1H0lAlCeA4i7FaT4WR45txqpIQJQngOIuxWk+'
    'amKQObh+vz6UJ4DiLsVpPpQngOIuxWk+9xZaRT4Gxj9CDB/P46crQPcWWkU+BsY/uTA48eXHAkD3FlpFPgbGP333EB9sGMY/'
    '9xZaRT4Gxj8pHGzAEgzGP/cWWkU+BsY/9xZaRT4Gxj8gup8QjSHIPvb96JETxjBAILqfEI0hyD75r/Hsid0mQCC6nxCNIcg+'
    'Iso/ndPZuT8gup8QjSHIPkXp9k/xKeg/ILqfEI0hyD4gup8QjSHIPq/PT48/CwA/NlgnTlJEhECvz0+PPwsAP1F27Gt2nB9A'
    'r89Pjz8LAD/ILMrAvLg8QK/PT48/CwA/wTcw0F52CUCvz0+PPwsAP6/PT48/CwA/JyxxdstMOj7VBDDjJLk2QCcscXbLTDo+'
    '7F7wgPPCIEAnLHF2y0w6Pi7TL7EuPxRAJyxxdstMOj7xHw3XlB6UPycscXbLTDo+JyxxdstMOj4FEQ8jyuEBPwMX8Ys86kNA'
    'BREPI8rhAT9s7mM3iV/KPwURDyPK4QE/GHBdD0gXgT8FEQ8jyuEBP/KR2gYzRhU/BREPI8rhAT8FEQ8jyuEBP510vTuoU2Q+'
    'lYs/5UYEqj+ddL07qFNkPlqXQpS03bU/nXS9O6hTZD4duhobjOEqP510vTuoU2Q+gEf9pi5YCD+ddL07qFNkPp10vTuoU2Q+'
    'BEOk7ttKHz9mM9Ab6caXQARDpO7bSh8/NrZMUiSGoD8EQ6Tu20ofPwjGBwI4ug1ABEOk7ttKHz85Ccck99IjPwRDpO7bSh8/'
    'BEOk7ttKHz81Z0puMje1Pucc/n7l578/NWdKbjI3tT4Fel6cgrFkPzVnSm4yN7U+TecdaLRElT81Z0puMje1PkoqPIXSGNg+'
    'NWdKbjI3tT41Z0puMje1PimSU8+nd2c/t7+3cqRmg0ApklPPp3dnP207UYFTR1xAKZJTz6d3Zz/bU8lNwUYDQCmSU8+nd2c/'
    '4HjB3FCoZz8pklPPp3dnPymSU8+nd2c/gmmC2GB8qj8z2A/4VenMP4JpgthgfKo/htE3Qf47b0CCaYLYYHyqP4G9dHMjhLc/'
    'gmmC2GB8qj+rdClCYnyqP4JpgthgfKo/gmmC2GB8qj/7bCbRR0vhP97JDVGlLWNA+2wm0UdL4T+GXEB243nhP/tsJtFHS+E/'
    'TK75dGKH+j/7bCbRR0vhP/hG8GppPu4/+2wm0UdL4T/7bCbRR0vhP+n3+M0WXOE/bS6ABC12dkDp9/jNFlzhPxU+6J88nuY/'
    '6ff4zRZc4T8q9LiDsiUGQOn3+M0WXOE/WZsf+Ehk4T/p9/jNFlzhP+n3+M0WXOE/aHIsk24nKz+ZvHxPJFsOQGhyLJNuJys/'
    'l1jCPStMuT9ociyTbicrP7yHO3QiunM/aHIsk24nKz9aDZCTO7qjP2hyLJNuJys/aHIsk24nKz9ZlaIt6cyAP74E3iEKnbJA'
    'WZWiLenMgD/jXeeE+hhLQFmVoi3pzIA/RdAbw/8OC0BZlaIt6cyAP/Q8JuXoeiNAWZWiLenMgD9ZlaIt6cyAP+QmTX4euGg/'
    '9BPIuAnR8j/kJk1+HrhoP5idKZOVwQJA5CZNfh64aD9XiemjjquuP+QmTX4euGg/9onGjDEeBkDkJk1+HrhoP+QmTX4euGg/'
    'lCeA4i7FaT4ogzBRpLFaQJQngOIuxWk+PZSp0/9V1UCUJ4DiLsVpPr+jr0rfKO4/lCeA4i7FaT5o5T0lNS1eP5QngOIuxWk+'
    'lCeA4i7FaT73FlpFPgbGP2qtT62tLMFA9xZaRT4Gxj97WIS58Sw3QPcWWkU+BsY/bw9hsfXu1D/3FlpFPgbGPwHj9flIE9M/'
    '9xZaRT4Gxj/3FlpFPgbGPyC6nxCNIcg+41l/GpNLUkAgup8QjSHIPnYL3Zn4+gJAILqfEI0hyD5PQFZ/cYAqPyC6nxCNIcg+'
    'phaJC34OgUAgup8QjSHIPiC6nxCNIcg+',
    'float64', (3, 16, 5, 2)),
}


def main():
    x, w, b, gy = X, W, B, GY
    backward = False
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    try:
        out = run_onnxruntime(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS, optimize=False)
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
