#!/usr/bin/env python3
"""Reproduction: torch-bf16 n2c1h3w3f32k3x3s1x1p1,1,1,1d1x1g1b0 bf16 (nonfinite)

Candidate torch-bf16: torch.nn.functional.conv2d in bfloat16, eager, CPU (oneDNN's bf16 kernels where the CPU has them)
Case n2c1h3w3f32k3x3s1x1p1,1,1,1d1x1g1b0 bf16 (forward and backward), failure kind: nonfinite.
Triage: semantic difference: NaN/Inf land elsewhere than a direct sum puts them: y: NaN/Inf positions differ from the oracle's, first at index (1, 0, 0, 0): got nan, expected -2.0831422805786133; dw: NaN/Inf positions differ from the oracle's, first at index (0, 0, 0, 0): got nan, expected 7.0428290367126465
Library: torch 2.13.0+cpu. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Declared error model: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32, output rounded to storage, bias before that rounding; BOUNDS below is that model's bound plus the
float64 reference's own error, per element, as computed by conv-oracle.
The reference is a float64 direct sum over the same (rounded) inputs.

Run: python torch-bf16-16.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only torch 2.13.0+cpu and NumPy)
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

def torch_compiled_conv(options_key):
    """One ``torch.compile``d conv2d per option set, through inductor, with the recompile limit
    raised (every new shape or stride recompiles) and a backend wrapper that proves inductor
    compiled and ran the graph: ``calls["compiled"]`` and ``calls["ran"]`` count it."""
    cache = torch_compiled_conv.__dict__.setdefault("cache", {})
    if options_key in cache:
        return cache[options_key]
    import torch
    import torch._dynamo
    import torch.nn.functional as F
    from torch._inductor.compile_fx import compile_fx

    torch._dynamo.config.recompile_limit = 10**6
    torch._dynamo.config.accumulated_recompile_limit = 10**6
    torch._dynamo.config.fail_on_recompile_limit_hit = True   # never fall back to eager silently
    calls = {"compiled": 0, "ran": 0}

    def inductor(gm, example_inputs):
        calls["compiled"] += 1
        compiled = compile_fx(gm, example_inputs)

        def ran(*args):
            calls["ran"] += 1
            return compiled(*args)
        return ran

    def conv(x, w, b, stride, padding, dilation, groups, pads):
        if pads is not None:
            x = F.pad(x, pads)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    cache[options_key] = (torch.compile(conv, backend=inductor, fullgraph=True, dynamic=False), calls)
    return cache[options_key]

def run_torch(x, w, b, gy, stride, padding, dilation, groups, *, memory_format="contiguous", mkldnn=True,
              compiled=False):
    """torch.nn.functional.conv2d on CPU; x NCHW, w OIHW; gy None: forward only."""
    import contextlib

    import numpy as np
    import torch
    import torch.nn.functional as F

    def to_torch(a):
        if a is None:
            return None
        if a.dtype.name == "bfloat16":  # NumPy's bfloat16 (ml_dtypes) is not a torch dtype: go through f32, exactly
            t = torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(a)
        return t.requires_grad_(gy is not None)

    def to_numpy(t, like):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            return t.float().numpy().astype(like.dtype)
        return t.contiguous().numpy().copy()

    xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    xin, win = xt.contiguous(memory_format=fmt), wt.contiguous(memory_format=fmt)
    (pt, pb), (pl, pr) = padding
    symmetric = pt == pb and pl == pr
    pads = None if symmetric else (pl, pr, pt, pb)
    native = (pt, pl) if symmetric else (0, 0)
    flags = contextlib.nullcontext() if mkldnn else torch.backends.mkldnn.flags(enabled=False)
    with flags:
        if compiled:
            fn, calls = torch_compiled_conv((memory_format, mkldnn))
            ran = calls["ran"]
            y = fn(xin, win, bt, tuple(stride), native, tuple(dilation), groups, pads)
            if calls["ran"] != ran + 1:
                raise RuntimeError(f"torch.compile did not run the inductor graph (calls {calls}): it fell back")
        else:
            xp = F.pad(xin, pads) if pads is not None else xin
            y = F.conv2d(xp, win, bt, tuple(stride), native, tuple(dilation), groups)
        out = {"y": to_numpy(y, x)}
        if gy is not None:
            leaves = [xt, wt] + ([bt] if bt is not None else [])
            grads = torch.autograd.grad(y, leaves, to_torch(gy).detach().contiguous(memory_format=fmt))
            out["dx"], out["dw"] = to_numpy(grads[0], x), to_numpy(grads[1], w)
            if bt is not None:
                out["db"] = to_numpy(grads[2], b)
    return out


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

LIBRARY = 'torch 2.13.0+cpu'
DESCRIPTOR = 'n2c1h3w3f32k3x3s1x1p1,1,1,1d1x1g1b0 bf16'
STRIDE, PADDING, DILATION, GROUPS = (1, 1), ((1, 1), (1, 1)), (1, 1), 1
X = _array(
    'A0AkwNY+Eb/ovl2+AcBtvl2/VUBnPoD/kL4rv4e/yL73PnS+',
    'bfloat16', (2, 1, 3, 3))
W = _array(
    'Tb7HPMY/DD8Bvzu+Cj/4P4q+eb6AP2O/lb5iPxU/uz0sPzXAgz92v9a/jj4zP+S+ir/WPFi9tD8/P0Y+jj9Svm2/Fj8VP1y+'
    'SL9rPiDAMT/8PtK/ez13v0I/AsBqvzY/lD8KwP++qD4cv8w/mL+2Poa/tD+xvL++3L/XP0E/QT+SP7M+JL9Nv02/rz+7vxm/'
    'pL5mPhM/oL/dv5G7mz9CP10+or6WPnm+UT9Lvwk+470LP2Y+I0DAP8A/A8Cuvhy/CD8SwJY/iT+nv3u/Tb8xPSQ/A0BKvkQ/'
    'Hz7hPz4/rz+Kv0W+UL/BPyg/nL7ovvg+NL9uv/Y+HkB8vg6/lr+rvwY/Wj8WPKo+7T0OPsO/677kPUi/9L5Sv6u+Wj/Qvh6+'
    'UD8lP9k/BsBbP/e+Cj5WP4s/hT8fPs4/kb4Qvk0/Db8KQII/C0DavMS+Kz48Pxa/wj6KvM8/Kr+GPyW/dr82v5i/Fj6EPyg+'
    'ID/RP4o+SD6Nvs6/Qj/hvyc/a7yQP4u9U7+3Pg+/Ob4sPQq+Qb5Vv0K+CcAhvpm/jz+jP/q/FD4Bvoa/CD/svuK/ib4Yvto9'
    'nr8ePzw/k78pv6W9Eb/fP1U+gb9Kv2u9E0A3vgM+BD8kvRJACL8/PyQ+Hz+Xv+I/+b0MPW+/O78QP30/QT+bPzc/6TxWPxg/'
    'zr06P6U/cD62vjg/8z9Yvr29DL6dP+u/uz6ZP1C/vz8JPw2/UT7EvxG/6j9lv+w/p71/PzQ9D8ATv0I+k7+sv7s+Jr/Zvy+/',
    'bfloat16', (32, 1, 3, 3))
B = None
GY = _array(
    'XD/zvm8/wz8FPZG/p7/XvGI/ij4MP+O+mj7xvqe+pb/Jv/e+jr91vyw/2707QG0/Ir9HP7c+ML+NP0a/RMBLPx6/vj8mv5e/'
    'xj+Kv1A+uj/qPaW90j1XP0+/HD8UPxVArL5qvzw/y76UPgg+lj8ov729I8Bkv8U/Lr80v5y/FD82Ppi/Kz+FPkE/JL/eP9I+'
    '770Fv3u+XD+Kvoo/FT+sP1A/gb30v5k+Sj8nPg4/8b7DvnG/rj8iPvy+qr8dvrk/7T45v7c/tz97P0o/lD8LP0Y/SL/AP20+'
    'AkADwDU/ez+wvug+QD8UPwq/Eb6CP6M/yz2ePU0+hT+Hv6q//z2Ovxa/sT33Pom/TT/jvww/yr+jvyQ/0L5Mv+S+7j5dvfG8'
    'hz83v/K+Br+WP34/pT8KvSG+Wj/KvlU/OT8zv6q99L3ePyZAzb1mPBLAWT7mu4m/ST/Iv1y+Dj6gv1s/hz+xv7S/Gj/6vJu/'
    'l77cvRK+VD/FPuI/sD8uP4o/qT81P52/XD+UPc8/vz0HP6k+1z81Poq+nj7hviY+9buLPvY/0L4XPUy+LD+XvzG/Ir0MPz69'
    'AL9evwM/uT+lPkE+4z5xv6C+ib6XPgO9nL+QP9k/h77MPok+ST+9v84/8L6iP6U9x74QvmY/Xb/Avve+3L+mPxQ/r7yVP3W/'
    'lr3dP3s/DsBVwIW/iD/yvl++HD9jv1o+Sz/vPss+Gr8EP9u+pz8kQD2/C8DavsE+hj+KP0m/S7+iP4y/jD9ovkQ/NT9HP1I/'
    'fb+YPmU8nj6eP4u+Nr86v5++QT9Rv5Q/lT5ovqq/ez4xP+K/mT/TP60+/D4aQJ4/Zr+IvCG+Gr4XwEI/I78oPgu+Xz+Xvky/'
    'CD+0P6S+rz+GPgi/wz9Sv4I//77nPp6/Vr+IP0E+HT3hvuU+s7+PvyK+Vr8zv5K9Db5kvtU/gT+dP+e8Ab+6v7K+BsAVv0Q/'
    '0D93P12//D5Kv1M/5L1cPyVAbD8VQDY+qb6rP90/Dr+dPbi/Tb5jP7G9Er+0v70+TD8ZP4M+o7/iP2i9FL48PwrAhL0Mvr8+'
    'rD/yPuu/rr5SPhc+pL/Vvw0/sD6uvN2/4z86wLq+BkAhvm4+l7+uP6W/gj4KPoa/Yz+1vy+/67zTvvA+bT+Wvgu/BL+7vk8/'
    'X77RPru9WL9dP4W/yzu+P4y/Yr3LvwK/v7+5vgq/Bz7LP5E+KD9QvXq+Vb/nv4090T/0Pgm/0z/evh6/m792v3y+AEBTvoS/'
    'G79kvtu/Aj4zP6Q+Gj+lv9m/pT+MP8W/Uz7RPAs/Vj4Bv0g+IT5Hve2/QMBKv9G/gT43P4c+vb6QPZU/O79sPzU/hj66Pzi/'
    'cT9uv0S/iL/kPnG/Vj2Rv4g/6z9oPtI/ED8LQMw9yb+/PwG+hb8ov9C/LL6Jv74/Kj/Vv8G/Eb/2v+G9Mr1Gvwy//z62P78/'
    'DT1bPz2/0z52vzs/n793vwm8Dz+4vwm/Cj5rPle/xj2JvrQ/Dz+pvw3AzT2XPzI+Yj/4vq+/QD/LPS8/sb86PiC/Tj8Vvxu/',
    'bfloat16', (2, 32, 3, 3))
BOUNDS = {
    'y': _array(
    'EapUDkmgeD+T3L78GltzP9eJf2WcMoI/I1bGQGKPnT/QWHe5XblyP70ZdIFAnnY/VINoBw/8VT/LHfo+q/RwP0ZHHblWN1k/'
    'wqKpGo15cz+H21wEQeOCPx5h1C1otm0/Y50jmFjahj+85qbRCQ17P2WFFQsSa1g/EXKgVhKigD/BuSdqIExPP5GXlhMqnmk/'
    '2XdOOn+nhD/AHmJBE51pP7/xLNAKjTA/3oWxvASrgD9AWXoF/saWP+WFKcAnmIg/BPvu19bO8z4e6kEMK8U+P06ckx9LlG0/'
    'V2mNXOGHez9gb8P6BMV9P4F8CfJ9j4o/27aSd1pxXD9ETJRomdlaP/8SsNQzjpE/2Gow0YcZPj/mGebZzYeEPyik5zWMGWw/'
    'XopqgniplT8ygaGiU8ZSP9bbT/tvLHY/oOPVCAY5oj+9DbH/8zCQP8sM2FAF+4M/Ol4qcoMDWT+3mpJcdzJpP+FnmZIH9VE/'
    'Quo0akgfjD8A5yzgz7mdP77yxo4TDo8/+bl+5k0ydj/EzfZ7++OHPxyDyW6/3JQ/0mX9F5Ghkj+QpNSJy0cFP8dCwK0esoU/'
    'DcniBEZsWD/AxB94PqCGP8MqlF1Ck4k/mTk2UsuSID+3elbPmn6AP6Bp7eveHng/o1321THLWT+5Gs6XHlR8P0z2if+ozEM/'
    'leIkXpQweD/4zSqH8xdbP9cNatasDHA/Q5Aor2pblT9c4E09WeeBP30jCMnmgig/su5N2XjZbz+QsWfAYmJyP+P3BF55IFA/'
    'USINroIzkD8efwXGoUBpP/hCW1dWUXw/7gP8X6vBeT+z7Pv/6WyCP5jZayKWbW0/qWZ/kwTBiD+vAPiDeQiHP2S31EgvB34/'
    '6dvSrzMBgz9dqImH+ziMPynTw0Ul7YM/1Wb5wEjHXT/mY1FOH6h7P8l6T2cwqlI/SP2nc54weD8STgnNoKl3PxhOXUm4bWI/'
    'i6Fj2o0Kej+lQanwysGIP4bQVzARbJU/2YT6y1oYkD+kX8Yq0jd+P/Etz6C+bYg/bvtN/MiDZj/qYsy4nEiCPxc63w5JwGY/'
    'bcfLZ0iefD/ap/sJ+L2FP93TG30U+HI/ljIrdXs1UD/HOcJx2MZlPxfWJL106Ik/Fi1HKbJWbj9xB+crK/hzP5oeBBEAbCw/'
    'tIoCXgbthj+lsztV23eUP2zYoO+jS48/cvg3iDqMaT9uSShQrTKLP/DXdUgmoHI/jGZ8RIRbbD+tvYu8MBWLP674lHIqGEU/'
    '+ryLyIbzhT9WIhVZQ4IYP70CByNIR1Y/WhJtYEfGcz8NIRLHqOKHP1AUmD9hEGg/d7STzafNfD8PCmmwhdx3P6gl/qStOHM/'
    '82MJ1hY7TD+GwNPCBXmAPxy9BrV8FoI/TgmNJdmikD/g2wBxnsd7PxM9wrOLkn4/qXOaz40oWz8INXQXPy9rP+yyQijJqWM/'
    'E8RSpnPBYD/Zkq9zaB9nP+ja6B7NkmI/6mJhd16bjT/i90M1dZ6CP1jaXMEwUHw/68n0PgYtgD97yCo9DRN9PzWii9t1CnA/'
    'Ru1zto0tgD9/PyNRzHqdP3FbeI217ZU/aWG0Es7plD+SwlY8B0VMP7NtC5rS1Hw/+yNbnnP4hT9kifdGKJKKP+Yd0kqcXWg/'
    'GAWqVXEWkD/cW3meBJ5oP44xSQrj4lw/HJLrCwtYoT/rRI5+OYGBP7cmcTDWsZA/hekpzzMEZz9pRuCf7IJxP5a6z7uzUVQ/'
    '8zTwVVlBgj88xeO4FbuCP8K6cFF9gVI/hKBe20znWz+OIYzAAF5+P6NVqjLqiZc/55g62E+Acj8BokfgRS9yP0gBrhV5a3o/'
    'WsdP6NLCbT8YTdoeIKVzP9M5q7IYB34/QZx5Qdv0hD8MugqbceuOP8z2RPrp3nw/3oSr0zaEdj9N5sWFF1iJP0oDqBJaKW0/'
    'QJY1FXgLkT+lB6IzdRxlP7xyP/OijWI/sIGRP1a4mz8hAZnXYnaQP8sX5TB5P1k/Uq30GNeiPj+T65E6ONI3P4QthyUzXVw/'
    'cwYkesyagT+O31DltMuFP22MbIg2rYI/nlkKUVnLgz8sZbUk9VuAP5rPhG5p42k/TkgXZjcqcz+NzMAR7y95Pwj/7uIkq1Y/'
    'a81ww6A+hz/5XIHt9RGVP+363djLjpI/Mor/+puehT+t504YucuCP1UcuSzED0w/fksgWM5pcj+lD3VBQKKXPxDczxgzrmw/'
    'aEw9yrzwjD+fyPuVRKF7P7B0mc4+anY/3/HZJZwWjj+VFeJf+3huP5/7oz3P9Fc/ftd0RqQjfj8Wc12hxl9oP4VGEZOtTU4/'
    'gyhsu0bPgT9ZnDs7s09zP+O+O2OSYoQ/YP2nzY4mjj9le8pr4zWCPzpGd2DBsYU/PdQ4ZMxZZT/3UYSYrGOGPyFyuOxMMXQ/'
    'qYic+yhHez8vVzpmJsqRP8t3nOvDvpg/kD6rvqH1fT8Zw/BBj0CRPxluQks2qXI/lKpXcYO3aT+yjpg76hGOP5jfuUwO+k8/'
    'nyyAxU0lmj9MncmyuyaVP/Q52LEyTIA/Qx/HixEfcj/fb3RHxbSAP0xUszMWU3o/PkseZlqXdz+OTNgUS5qEP7fxZinUi24/'
    'vr2beaerOD8dzND34o58P0pp6GMe6Xk/Jrb7fUvbkD+5/o/8oquRP9B3WMzE1mg/QofDxyn8ij/ufptyXMaDP9PCCr8FK3A/'
    'vBC3YJFEgz/yr0U1qmlnPxpAHz2HBnk/2o+wwBTqdz+Z4tPcPmuVP4FFJMsll1E/+HMnOz6HXD8ESs/uOft4P+vR/a/LG0I/'
    'RnTopEPnkT/r1t4wEf+MP8151fb1pnM/iOWgIGfTlz9lVzAwyq6dP3kcdsH6jlc/bP1nFlqtgD8P6laLsjVZP5d46502HHU/'
    'brKgCBKQnD+O+iKBjZCZP0hIsOvo8pQ/rUr2aWUfkD8Eu3YeA8qHP1IdHKpMHoU/24RwaYIBhD8k3KHZunqRP0SwQuRzy2I/'
    'rt4YQTZWgz/UyeaSBDyEP8Wb0f4AVYg/6srNc3MWhD9YF0v9zrRcP8w9kzSZpJ8/2nH5mBDphj/PucvTPF6OP2FIOzMjgIQ/'
    '7ipaGfeqgD8AAAAAAADwfwAAAAAAAPB/hcPmshPHSD8AAAAAAADwfwAAAAAAAPB/2Zu1GSvPbT8hUymTCAqAP8wyByEmfl8/'
    '7bBwCL0Ukz8AAAAAAADwfwAAAAAAAPB/QNDdnkKuaz8AAAAAAADwfwAAAAAAAPB/oKCMzgWkTz//zJdkJ5RnPw6+hadC5HM/'
    'DH4Li+4Jgj8AAAAAAADwfwAAAAAAAPB//lhyt+AVjD8AAAAAAADwfwAAAAAAAPB/1RDyGj7HbD9/QZyJfp+DP8tDGxFjB1M/'
    'gLy0idIsbT8AAAAAAADwfwAAAAAAAPB/zsMwbWj6hj8AAAAAAADwfwAAAAAAAPB/XdxcTXqUZj+WRFWKV452P7L64fqlR3I/'
    'kREDtkKJcD8AAAAAAADwfwAAAAAAAPB/RUlLtj1nfj8AAAAAAADwfwAAAAAAAPB/OFJz5pHnYz8Pyjd98H6IP5/dxml+wl8/'
    'Qvy+SrBdoD8AAAAAAADwfwAAAAAAAPB/HlKakDD3bT8AAAAAAADwfwAAAAAAAPB/yrTePgmbWD9Xsb0lECJuPzluCja1JIs/'
    'HBdWp48dcj8AAAAAAADwfwAAAAAAAPB/lHv4/HIfbT8AAAAAAADwfwAAAAAAAPB/vM+QHfNiWz9RmcR6TF1nP2Ek2C5ConE/'
    'w/jfPwZKgD8AAAAAAADwfwAAAAAAAPB/9mexD0eskz8AAAAAAADwfwAAAAAAAPB/SRRLZ6oYZD/3Ur+0kZx0P6zqZfi+M30/'
    'fxf1TOFrmD8AAAAAAADwfwAAAAAAAPB/rxn+ooTIcj8AAAAAAADwfwAAAAAAAPB/n4xJmp/kTD/uLrPJvyZwP1t9vpoefUs/'
    'UmpTUutLhz8AAAAAAADwfwAAAAAAAPB/sRL9vBJpbj8AAAAAAADwfwAAAAAAAPB/bpSRAQ4VXT9j0+F7GK5iP+Z0X+RdD18/'
    '8ldkSpWPdj8AAAAAAADwfwAAAAAAAPB/iavOc58pnT8AAAAAAADwfwAAAAAAAPB/alhkhWtdeT8dDEKwIimEP0vV8kXpwpA/'
    'eCN8Er13RT8AAAAAAADwfwAAAAAAAPB/84/P9SM7kj8AAAAAAADwfwAAAAAAAPB/vxlQ1w4HdT94hxTLKJN8P+wfQHIK81A/'
    'otYkKnP6kT8AAAAAAADwfwAAAAAAAPB/7qkR0EK2mD8AAAAAAADwfwAAAAAAAPB/BlEp3z4vZT8PkegdLhOIP2E5cn1jqnA/'
    '1+vgQz1fhD8AAAAAAADwfwAAAAAAAPB/Y46glMIUej8AAAAAAADwfwAAAAAAAPB/Hwkr0PyIWT/sjZRZ7E5aP7J2iiOnC2I/'
    'Tzyj+qFYcT8AAAAAAADwfwAAAAAAAPB/2F8QlYpelT8AAAAAAADwfwAAAAAAAPB/wtbaRpRmRz952r56j9JQPwF4n4ZczoQ/'
    'EGVUfVO1hD8AAAAAAADwfwAAAAAAAPB/f7hxsKxwZz8AAAAAAADwfwAAAAAAAPB/Kj+yKcPMZD9CyfhNSPdnPxkG3UwW0kM/'
    '47y8KhR0fD8AAAAAAADwfwAAAAAAAPB/aI0+2NR0hj8AAAAAAADwfwAAAAAAAPB/wqPb3PMXfj+pWCVEFKJxP/lDeht4foM/'
    'GPGCg+soeT8AAAAAAADwfwAAAAAAAPB/c1MKbFqoID8AAAAAAADwfwAAAAAAAPB/UmfCA1OvZT8jT1cABO+BP3TNXzUxwW4/'
    'law6R3HKcz8AAAAAAADwfwAAAAAAAPB/djZ66xKAaT8AAAAAAADwfwAAAAAAAPB/z2sXhgGdUz8T4F6PKKpOPy9QOLkKR3g/'
    'KRPDRatFiD8AAAAAAADwfwAAAAAAAPB/5y5yfCEJkD8AAAAAAADwfwAAAAAAAPB/9gDIHp5jRD+9TJ5wDOleP89xP32Wj24/'
    '8k4+cT+Kcz8AAAAAAADwfwAAAAAAAPB/LlbybnmZnj8AAAAAAADwfwAAAAAAAPB/mXsQNMzudD8AhDvZ4QZ2P3v8YWlUrn8/'
    '67yd5mBFcj8AAAAAAADwfwAAAAAAAPB/eHXbm2Zdjz8AAAAAAADwfwAAAAAAAPB/vzdc3srEZT9E9FnbiNwoP8OHe3Q0j3o/'
    'oMmaA9iyQz8AAAAAAADwfwAAAAAAAPB/7JdjNsdGiz8AAAAAAADwfwAAAAAAAPB/UaJR58LQQz9VAZHpE6p9P6VLfoHhZQE/'
    'bAMZqVNkfz8AAAAAAADwfwAAAAAAAPB/twUhlUNsaD8AAAAAAADwfwAAAAAAAPB/eKWsAvYvMD9iQBqfSDhyP8xQMl34wlk/'
    '1iPsVLTBhj8AAAAAAADwfwAAAAAAAPB/3zhIZlgSfj8AAAAAAADwfwAAAAAAAPB/Tte0nvd+XD+B02bXihlmP12HigjhmUw/'
    'jhyJiEmhgD8AAAAAAADwfwAAAAAAAPB/vhpQuwnweD8AAAAAAADwfwAAAAAAAPB/CzHdiq4TWT+r64Dvo1JCP9gRiftVQIU/'
    'hH/QWPZQhz8AAAAAAADwfwAAAAAAAPB/v5PSrg1Wcz8AAAAAAADwfwAAAAAAAPB/X811Gjffbz+QvF06aAJ8P/TE0gwIEEM/'
    'Yikin557jD8AAAAAAADwfwAAAAAAAPB/fKduvBnMcz8AAAAAAADwfwAAAAAAAPB/Oi+8EqlLbj9CTYVYgn9xPzy+kcOlJB8/'
    'nJ3r5uvNbD8AAAAAAADwfwAAAAAAAPB/EcN/Z9Xvgj8AAAAAAADwfwAAAAAAAPB/6Z9/boCPYj+BO33JegKCPxfWUikiDGA/'
    'xYgLIjUNkD8AAAAAAADwfwAAAAAAAPB/BbgB2GY0iz8AAAAAAADwfwAAAAAAAPB/zPPjR9RfFz+OaFLlh4l8P2u2H9ym+nQ/'
    'Wbfcnzn4hj8AAAAAAADwfwAAAAAAAPB/ortjupJKmj8AAAAAAADwfwAAAAAAAPB/eRVQBqxigD+YlEKO6SsXP4km1r3Pl4Q/'
    '55e9rSeoiz8AAAAAAADwfwAAAAAAAPB/D5AgwkVwdj8AAAAAAADwfwAAAAAAAPB/w/fB/NWOZz8pdf2mhNNgPw1mQ7C91X0/',
    'float64', (2, 32, 3, 3)),
    'dx': _array(
    'Bl5hHm3hlT+TNGI0N7ufP+x+iGtdx4U/M5QcaHP5tD8jaJNpWKGePx3AtiForIQ/rQ/v9O4Hpj9AJcmzSYi7P7LgLS7jHKQ/'
    'VlCKyhh7sz+KoC936022P1hs16Z8rYA/uWJxWMKzwT9cJhGD336yPyp1yivECaI/ys0EEiAavD8wheK+CMF4P5xr12D2fW4/',
    'float64', (2, 1, 3, 3)),
    'dw': _array(
    'L/ZAHxsunD8AAAAAAADwfwAAAAAAAPB/lGLuHEOAgD8AAAAAAADwfwAAAAAAAPB/7TT0QPE+ZT+dFIlVp4d/P5P5iuVi2l0/'
    'Dujw2Gw4bT8AAAAAAADwfwAAAAAAAPB/71k9z3SUij8AAAAAAADwfwAAAAAAAPB//mN9b9IYRz+EaZordwd1Pwmzt5kDxWQ/'
    'DMJYmpTQpj8AAAAAAADwfwAAAAAAAPB/K0S6e7ZViz8AAAAAAADwfwAAAAAAAPB/oUA9LQKcmz/A/8q7EGx3PxQmWnwYp5I/'
    '77/QuEv0lD8AAAAAAADwfwAAAAAAAPB/WdvsG5Qagj8AAAAAAADwfwAAAAAAAPB/Kyvhz2o8ez/7LroHyQufP5K4jiNdvII/'
    'GVcSOjBVZD8AAAAAAADwfwAAAAAAAPB/rsXikr0Pdz8AAAAAAADwfwAAAAAAAPB/kY9WHdTnTT+jB1gztmeRP/RVIOopKYE/'
    'hVhMH+dpYj8AAAAAAADwfwAAAAAAAPB/Uq2H7dcckD8AAAAAAADwfwAAAAAAAPB/6y7TwPFGZT8y89SsTE1xP3J8dGIYZ1U/'
    '2qZawylsoD8AAAAAAADwfwAAAAAAAPB/WEkzX0PIgT8AAAAAAADwfwAAAAAAAPB/vQqv8ZgYhD+hbxGsWOuTPwoD1VuRxIY/'
    'ciVAi0FVnz8AAAAAAADwfwAAAAAAAPB/Pa2FkaeTkj8AAAAAAADwfwAAAAAAAPB/BnT3b+4BSD9xO1JuQ6ONPwTKzrWQWYQ/'
    'aG/rskqzoT8AAAAAAADwfwAAAAAAAPB/lJ7LG0ovMz8AAAAAAADwfwAAAAAAAPB/zPOaqyNgez8XkQHJHqqJP05Y34u7rHc/'
    'QE0LyT1TlT8AAAAAAADwfwAAAAAAAPB/Ii4n6MY7eD8AAAAAAADwfwAAAAAAAPB/+t5RprRyGj/KcvkfKk+HP75Td2Czd4s/'
    '+fb8Dapjoj8AAAAAAADwfwAAAAAAAPB/6hFLcDd2lD8AAAAAAADwfwAAAAAAAPB/GwC9HoOdZD+i+U6pp7JQP1ChCy41fG4/'
    'zJLGVcyAND8AAAAAAADwfwAAAAAAAPB/dJqNAaCtjD8AAAAAAADwfwAAAAAAAPB/hSnsKUHJjz+U6AkJfIyRP2DVPjyU04Y/'
    'jo0bFVAhcj8AAAAAAADwfwAAAAAAAPB/3yGREmiMlD8AAAAAAADwfwAAAAAAAPB/HuXhmowZhD/5uz/zEZ9zP1oBvjVHJoA/'
    'hxe40osMoj8AAAAAAADwfwAAAAAAAPB/ZLBXmrw/fj8AAAAAAADwfwAAAAAAAPB/OMfvKrGEaD8ekVXVZxB1P+yWP8LCjHE/'
    'QCKMYJ84lj8AAAAAAADwfwAAAAAAAPB/xFcQCREGoD8AAAAAAADwfwAAAAAAAPB/2ddi4j5hNz991amc25KBP4RempDC6Gk/'
    'XDnmY2K3fz8AAAAAAADwfwAAAAAAAPB/O6MQXPAnjj8AAAAAAADwfwAAAAAAAPB/H8+1hZu+fD85H/ITaxiBP5iICahi8YU/'
    'CxwXkA81hz8AAAAAAADwfwAAAAAAAPB/8jWkMlmaYj8AAAAAAADwfwAAAAAAAPB/STKtyMXthj+NhjtKJVdkP6pYrP/u5oA/'
    'YQmPaDRZlT8AAAAAAADwfwAAAAAAAPB/UYSiXDgKqD8AAAAAAADwfwAAAAAAAPB/ZQrErnITfz/Urw6V9VNcPz5yOFosZnM/'
    '3i3l5q95gD8AAAAAAADwfwAAAAAAAPB/NqpTGqW3oj8AAAAAAADwfwAAAAAAAPB/xs1MCkehgT9pLKpbYshiPz9SC56i3FY/'
    'lZkufaO7cj8AAAAAAADwfwAAAAAAAPB/EK0sVAE5kj8AAAAAAADwfwAAAAAAAPB/3XjogsjmkD9CgJQEr4hQP4N4ZIosUUQ/'
    '9Z/xpZQAZz8AAAAAAADwfwAAAAAAAPB/NaypmOthkT8AAAAAAADwfwAAAAAAAPB/SwcuHLWiHT+N9BBr4HxmP6g3rP7LakU/'
    '3/1My53okD8AAAAAAADwfwAAAAAAAPB/R37BjOqTlz8AAAAAAADwfwAAAAAAAPB/7piGMdN5Yz9Y17VEqPGMP02DOw5xeYc/'
    'Xewcz9LZlj8AAAAAAADwfwAAAAAAAPB/GRewsRkwaj8AAAAAAADwfwAAAAAAAPB/9a9nmndGej810anlo9R3PzgCL2f+4Xw/'
    'r1PYFzL1gj8AAAAAAADwfwAAAAAAAPB/b0xV5bmXZT8AAAAAAADwfwAAAAAAAPB/pjFmJhSsfD99eGNoQtVqP7EaV53semQ/'
    'Q3bGrXSzez8AAAAAAADwfwAAAAAAAPB/Kud2AS2QiT8AAAAAAADwfwAAAAAAAPB/FErCIk6NUj/QmCmxiTJiP8pP8s5T4V0/'
    'UurhiZcfkj8AAAAAAADwfwAAAAAAAPB/5+66oPmHfD8AAAAAAADwfwAAAAAAAPB/ImIgAF4Ykz9Dzk8SRNVqP08vXsaAwII/'
    '+tDsoFqlUz8AAAAAAADwfwAAAAAAAPB/noH07wFLpj8AAAAAAADwfwAAAAAAAPB/EwZ2JWfQLj/QKBTZB8+AP7QJJ22gR2E/'
    'Eei0xKsxiT8AAAAAAADwfwAAAAAAAPB/O3ToYhqpoD8AAAAAAADwfwAAAAAAAPB/cZZRNCanej9h2mEgfA2TP3wy3n7hj4I/'
    'DL6FPmksmj8AAAAAAADwfwAAAAAAAPB/YEOlSmDhnD8AAAAAAADwfwAAAAAAAPB/EwUCtMYJmj9XYfaenFqSP6ou2le+aIQ/'
    'gbbRs03IXD8AAAAAAADwfwAAAAAAAPB/YacA1jZ+nT8AAAAAAADwfwAAAAAAAPB/2NYA5eMVVz+rEGaGK3haP5Quukn2514/'
    '9S2jS6llhz8AAAAAAADwfwAAAAAAAPB/8XZA9wAiYz8AAAAAAADwfwAAAAAAAPB/S/k8C6rxcT8RXAHx2cyXPzf2BFF+cGA/'
    'L4yx8nGogT8AAAAAAADwfwAAAAAAAPB/WfvGkTzTkD8AAAAAAADwfwAAAAAAAPB/9ApHLnuVaT9VukZdQ2WHP2SeRQ9xm3Q/',
    'float64', (32, 1, 3, 3)),
}


def main():
    x, w, b, gy = X, W, B, GY
    backward = True
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    try:
        out = run_torch(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
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
