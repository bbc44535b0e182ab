"""Planted bugs: single-point mutations of the built-in loop implementation.

Each mutant is the source of ``impls/loop.py`` with one textual change, the kind of bug
that from-scratch tutorial code really has (several come from ``shared/seeds``). They
feed the meta-tests and ``conv-oracle selftest``: the harness is worth what it kills.
Any mutant can be checked on its own as ``conv_oracle.mutants:<name>``.
"""
from __future__ import annotations

import importlib.util
import types
from dataclasses import dataclass
from functools import lru_cache

from .plugin import ConvPlugin


@dataclass(frozen=True)
class Mutation:
    name: str
    area: str                    # forward, dx, dw, db, padding, stride, dilation, groups, bias, dtype, batch
    description: str
    old: str
    new: str
    occurrence: int | None = None   # which occurrence of ``old`` to change; None: it must be unique
    target: str = "impls.loop"


MUTATIONS = [
    Mutation("dx_crop_minus_pad", "dx/padding",
             "seed 000: crops the padded gradient with [pad:-pad], empty when the padding is 0",
             "dx = dxp[:, :, pt:pt + spec.h, pl:pl + spec.w]",
             "dx = dxp[:, :, pt:-pb, pl:-pr]"),
    Mutation("symmetric_padding_only", "padding", "pads bottom/right by the top/left amount",
             "np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))", "np.pad(x, ((0, 0), (0, 0), (pt, pt), (pl, pl)))"),
    Mutation("padding_axes_swapped", "padding", "applies the width padding to the height",
             "np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))", "np.pad(x, ((0, 0), (0, 0), (pl, pr), (pt, pb)))"),
    Mutation("stride_axes_swapped", "stride", "uses the width stride for rows",
             "rows = slice(i * sh, i * sh + dh * (spec.kh - 1) + 1, dh)",
             "rows = slice(i * sw, i * sw + dh * (spec.kh - 1) + 1, dh)"),
    Mutation("dilation_ignored", "dilation", "reads a dense window, ignoring dilation",
             "cols = slice(j * sw, j * sw + dw * (spec.kw - 1) + 1, dw)", "cols = slice(j * sw, j * sw + spec.kw)"),
    Mutation("dilation_axes_swapped", "dilation", "uses the width dilation for rows",
             "rows = slice(i * sh, i * sh + dh * (spec.kh - 1) + 1, dh)",
             "rows = slice(i * sh, i * sh + dw * (spec.kh - 1) + 1, dw)"),
    Mutation("backward_ignores_dilation", "dx/dw/dilation", "the backward window forgets the dilation",
             "rows, cols = _window(spec, i, j)", "rows, cols = _window(spec.replace(dilation=(1, 1)), i, j)",
             occurrence=1),
    Mutation("backward_ignores_stride", "dx/dw/stride", "the backward window forgets the stride",
             "rows, cols = _window(spec, i, j)", "rows, cols = _window(spec.replace(stride=(1, 1)), i, j)",
             occurrence=1),
    Mutation("groups_by_input_channels", "groups", "slices output channels with the input-channel group size",
             "yield slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)",
             "yield slice(g * cg, (g + 1) * cg), slice(g * cg, (g + 1) * cg)"),
    Mutation("groups_share_first_input", "groups", "every group reads the first group's input channels",
             "yield slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)",
             "yield slice(0, cg), slice(g * fg, (g + 1) * fg)"),
    Mutation("forward_flips_kernel", "forward", "convolution instead of cross-correlation (kernel rotated)",
             "wg = w[cout]                                       # (F/g, C/g, KH, KW)\n            for i in range(ho):\n                for j in range(wo):\n                    rows, cols = _window(spec, i, j)\n                    patch",
             "wg = w[cout][:, :, ::-1, ::-1]\n            for i in range(ho):\n                for j in range(wo):\n                    rows, cols = _window(spec, i, j)\n                    patch"),
    Mutation("dx_flips_kernel", "dx", "seed 000: the backward reuses a rotated kernel where the window already aligns it",
             "np.tensordot(g_ij, wg, axes=([1], [0]))", "np.tensordot(g_ij, wg[:, :, ::-1, ::-1], axes=([1], [0]))"),
    Mutation("dw_from_unpadded_input", "dw/padding", "correlates the gradient with the unpadded input",
             "dw[cout] += np.tensordot(g_ij, xp[:, cin, rows, cols], axes=([0], [0]))",
             "dw[cout] += np.tensordot(g_ij, np.pad(x, ((0, 0), (0, 0), (0, pt + pb), (0, pl + pr)))[:, cin, rows, cols], axes=([0], [0]))"),
    Mutation("dw_averaged_over_batch", "dw/batch", "seed 002: divides the kernel gradient by the batch size",
             "return dx, dw, db", "return dx, dw / spec.n, db"),
    Mutation("db_averaged_over_batch", "db/batch", "averages the bias gradient over the batch",
             "db = gy.sum(axis=(0, 2, 3))", "db = gy.sum(axis=(0, 2, 3)) / spec.n"),
    Mutation("db_first_image_only", "db/batch", "sums the bias gradient of the first image only",
             "db = gy.sum(axis=(0, 2, 3))", "db = gy[0].sum(axis=(1, 2))"),
    Mutation("forward_first_image_only", "forward/batch", "every image gets the first image's output",
             "patch = xp[:, cin, rows, cols]", "patch = xp[:1, cin, rows, cols]"),
    Mutation("bias_ignored", "bias", "forgets to add the bias",
             "y += b[None, :, None, None]", "y += 0 * b[None, :, None, None]"),
    Mutation("bias_rounded_to_float32", "bias/dtype", "adds a float32-rounded bias (f64: error ~1e-8, below any loose rtol)",
             "y += b[None, :, None, None]", "y += b.astype(np.float32)[None, :, None, None]"),
    Mutation("forward_accumulates_in_float32", "forward/dtype",
             "computes float64 windows in float32 and stores them back (error ~1e-7 relative)",
             "np.tensordot(patch, wg, axes=([1, 2, 3], [1, 2, 3]))",
             "np.tensordot(patch.astype(np.float32), wg.astype(np.float32), axes=([1, 2, 3], [1, 2, 3]))"),
    Mutation("dx_accumulates_in_float16", "dx/dtype", "scatters the input gradient in float16",
             "dxp[:, cin, rows, cols] += np.tensordot(g_ij, wg, axes=([1], [0]))",
             "dxp[:, cin, rows, cols] += np.tensordot(g_ij, wg, axes=([1], [0])).astype(np.float16)"),
    Mutation("last_tap_dropped", "forward/stride", "off by one: the window stops one tap short",
             "rows = slice(i * sh, i * sh + dh * (spec.kh - 1) + 1, dh)",
             "rows = slice(i * sh, i * sh + dh * (spec.kh - 1), dh)"),
    Mutation("output_dtype_float64", "dtype", "returns float64 outputs for float32 inputs",
             "return y.astype(store, copy=False)", "return y.astype(np.float64)"),
]

# ---- precision: bfloat16/float16 computed in float32 and rounded once, broken five ways ------
PRECISION_MUTATIONS = [
    Mutation("accumulates_in_bfloat16", "precision/forward/dx/dw",
             "bfloat16/float16 are summed in bfloat16 instead of float32 (the storage-type trap)",
             "return np.dtype(np.float32) if dtype.itemsize < 4 else dtype",
             'return np.dtype("bfloat16") if dtype.itemsize < 4 else dtype'),
    Mutation("dw_accumulates_in_float16", "precision/dw", "the kernel gradient is accumulated in float16",
             "dw = np.zeros_like(w)", "dw = np.zeros_like(w, dtype=np.float16)"),
    Mutation("output_not_rounded", "precision/dtype", "the float32 accumulator is returned, not rounded to bf16/f16",
             "return y.astype(store, copy=False)", "return y"),
    Mutation("dw_rounded_twice", "precision/dw",
             "rounding twice: each window's dw partial is rounded to storage before the float32 sum",
             "dw[cout] += np.tensordot(g_ij, xp[:, cin, rows, cols], axes=([0], [0]))",
             "dw[cout] += np.tensordot(g_ij, xp[:, cin, rows, cols], axes=([0], [0])).astype(store)"),
    Mutation("bias_after_rounding", "precision/bias",
             "the sum is rounded to storage, then the bias added and rounded again (declared: before)",
             "        if b is not None:\n            y += b[None, :, None, None]\n        return y.astype(store, copy=False)",
             "        y = y.astype(store, copy=False)\n        if b is not None:\n            y += b[None, :, None, None]\n        return y"),
]
MUTATIONS += PRECISION_MUTATIONS

# Dispatch bugs: a fast path for one configuration that is wrong there and only there, as in
# libraries that special-case the common layers. The harness catches them only if its
# everyday (ci) profile draws those layers: the realistic and boundary spec families.
DISPATCH_MUTATIONS = [
    Mutation("fast_3x3_s1_transposed_taps", "forward/dispatch",
             "a 3x3 stride-1 dilation-1 fast path that reads the kernel taps transposed (w[..., j, i])",
             "wg = w[cout]                                       # (F/g, C/g, KH, KW)\n            for i in range(ho):\n"
             "                for j in range(wo):\n                    rows, cols = _window(spec, i, j)\n                    patch",
             "wg = w[cout]\n"
             "            if (spec.kh, spec.kw, spec.stride, spec.dilation) == (3, 3, (1, 1), (1, 1)):\n"
             "                wg = wg.transpose(0, 1, 3, 2)\n"
             "            for i in range(ho):\n"
             "                for j in range(wo):\n                    rows, cols = _window(spec, i, j)\n                    patch"),
    Mutation("blocked_c16_drops_last_channel", "forward/dispatch",
             "a blocked-layout path taken from 16 input channels on that leaves out the last channel of each group",
             "y[:, cout, i, j] = np.tensordot(patch, wg, axes=([1, 2, 3], [1, 2, 3]))",
             "y[:, cout, i, j] = np.tensordot(patch[:, :-1] if spec.c >= 16 else patch,\n"
             "                                                   wg[:, :-1] if spec.c >= 16 else wg, axes=([1, 2, 3], [1, 2, 3]))"),
]
MUTATIONS += DISPATCH_MUTATIONS

# Correct implementations that only sum in another order: the harness must NOT flag them.
SUMMATION_ORDER_VARIANTS = [
    Mutation("pairwise_sum", "forward", "numpy pairwise summation of the window products",
             "np.tensordot(patch, wg, axes=([1, 2, 3], [1, 2, 3]))",
             "(patch[:, None] * wg[None]).sum(axis=(2, 3, 4))"),
    Mutation("reversed_sum", "forward", "sums the window taps in reverse order",
             "np.tensordot(patch, wg, axes=([1, 2, 3], [1, 2, 3]))",
             "np.tensordot(patch[:, ::-1, ::-1, ::-1], wg[:, ::-1, ::-1, ::-1], axes=([1, 2, 3], [1, 2, 3]))"),
    Mutation("blocked_dw", "dw", "accumulates dw per output row block before adding it",
             "dw[cout] += np.tensordot(g_ij, xp[:, cin, rows, cols], axes=([0], [0]))",
             "dw[cout] = dw[cout] + np.tensordot(g_ij[::-1], xp[::-1, cin, rows, cols], axes=([0], [0]))"),
]
BY_NAME = {m.name: m for m in MUTATIONS + SUMMATION_ORDER_VARIANTS}


def _mutated_source(m: Mutation) -> str:
    source = open(importlib.util.find_spec(m.target).origin, encoding="utf-8").read()
    count = source.count(m.old)
    if m.occurrence is None:
        if count != 1:
            raise ValueError(f"mutation {m.name}: expected exactly one {m.old!r} in {m.target}, found {count}")
        return source.replace(m.old, m.new)
    if count <= m.occurrence:
        raise ValueError(f"mutation {m.name}: {m.target} has {count} occurrences of {m.old!r}")
    parts = source.split(m.old)
    return m.old.join(parts[:m.occurrence + 1]) + m.new + m.old.join(parts[m.occurrence + 1:])


@lru_cache(maxsize=None)
def build(name: str) -> type[ConvPlugin]:
    """The mutant plugin class: the target's plugin with one planted bug."""
    m = BY_NAME[name]
    module = types.ModuleType(f"conv_oracle_mutant_{name}")
    module.__file__ = f"<mutant {name} of {m.target}>"
    exec(compile(_mutated_source(m), module.__file__, "exec"), module.__dict__)
    base = next(v for v in module.__dict__.values()
                if isinstance(v, type) and issubclass(v, ConvPlugin) and v is not ConvPlugin
                and v.__module__ == module.__name__)
    return type(f"Mutant_{name}", (base,), {"name": f"mutant-{name}", "description": f"{m.target} with {m.description}",
                                            "registry_name": f"conv_oracle.mutants:{name}"})


def __getattr__(name: str):
    if name in BY_NAME:
        return build(name)
    raise AttributeError(f"module {__name__!r} has no mutant {name!r}; known: {', '.join(BY_NAME)}")


# ---- planted training bugs (conv_oracle.train): gradients scaled by the batch size ------------
# dw_averaged_over_batch and db_averaged_over_batch above are two of them; the third scales dx.
TRAINING_BUGS = [
    Mutation("dx_averaged_over_batch", "dx/batch", "divides the input gradient by the batch size (dx scaled by 1/N)",
             "return dx, dw, db", "return dx / spec.n, dw, db"),
]
MUTATIONS += TRAINING_BUGS
BY_NAME.update({m.name: m for m in TRAINING_BUGS})
TRAINING_BUG_NAMES = ("dw_averaged_over_batch", "db_averaged_over_batch", "dx_averaged_over_batch")
