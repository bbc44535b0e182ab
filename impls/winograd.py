"""Winograd minimal filtering F(m x m, r x r) for conv2d (Lavin & Gray, CVPR 2016).

The padded input is cut into overlapping tiles of ``alpha = m + r - 1`` pixels per side
(stride m); the output grid is rounded up to whole tiles by extra zero padding at the
bottom/right and cropped at the end. With the Toom–Cook transforms of
:mod:`impls.winograd_transforms` (``A^T``, ``G``, ``B^T`` per axis) one tile of output is

    Y = A^T [ sum_c (G g_c G^T) ⊙ (B^T d_c B) ] A

and every stage is a batched matrix product over a chunk of tiles (no Python loop over tiles):

* filter transform: ``U = (G ⊗ G) vec(g)``, one GEMM over all (f, c), working dtype;
* input transform: ``V = B^T d B`` as two 1-D passes (``B^T`` along the tile rows, then
  along the columns), two GEMMs over all tiles and channels of a chunk;
* element-wise stage: ``alpha^2`` GEMMs (F/g x C/g) @ (C/g x tiles), batched per group;
* output transform: two 1-D passes, ``A^T`` along the tile rows then along the columns
  (two GEMMs; the second writes each tile row contiguously, so the copy into the NCHW
  output moves whole rows).

Backward: ``dx`` is the full correlation of ``gy`` with the flipped, channel-transposed
kernel through the same Winograd path (negative "padding" crops, so padding larger than
the kernel works); ``dw`` and ``db`` are direct sums (one GEMM per kernel tap), declared in
``backward_method``. Any stride, through a polyphase decomposition (the phases become
extra input channels of a stride-1 problem, see :func:`phases`); dilation 1 only; kernels
1..5 per side (transforms for any r come from the generator). numpy throughout; the GEMMs are numpy's BLAS.

Error model (:class:`WinogradBound`), per (m, r, points) and per element, derived from the
arithmetic actually performed. Every computed output is a sum of products of input values
and transform constants; along any path from a product (x value, w value and the
constants) to the output, at most

    K = k_G + k_B + C/g + k_A (+1 with bias)

roundings happen, where ``k_G`` is the most nonzeros in a row of the Kronecker filter
transform ``G ⊗ G`` (a dot product of k nonzero terms rounds at most k times along a path;
zero terms add exactly), plus one if that matrix is not exactly representable in the
working dtype (e.g. 1/6 in G); ``k_B`` and ``k_A`` are the same count summed over the two
1-D passes of the input and output transforms (``B^T``/``A^T`` of the rows, then of the
columns); and C/g is the channel sum of the element-wise GEMM. Products of (1 + delta)
factors give (Higham, Lemmas 3.1 and 3.3)

    |y_hat - y| <= gamma_K(u) * |A^T ⊗ A^T| [ sum_c (|G ⊗ G| |g_c|) ⊙ (|B^T ⊗ B^T| |d_c|) ] + underflow

The magnitude array is computed exactly like the forward, on absolute values and absolute
transforms, in float64. It exceeds the direct-sum scale ``sum |x||w|`` by the growth of the
transforms: that growth is the accuracy price of Winograd, and why the error rises with m
(and why points such as ±1/2 help: they keep |G|, |B^T|, |A^T| small). The underflow term
is a scalar (each product may lose eta absolutely, propagated through the later stages by
their absolute row sums); it matters only for subnormal data. dx uses the same model on
``gy`` and the flipped kernel, summing F/g channels.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from conv_oracle import Capabilities, ConvPlugin, ConvSpec, ErrorModel, gamma
from conv_oracle.bounds import UNDERFLOW_UNIT, UNIT_ROUNDOFF

from .winograd_transforms import Transforms, _cast, transforms

KERNEL_MAX = 5


# ---- per-shape plan: the transforms of both axes, cast, and their rounding counts ----------
def _kron(a, b):
    """Exact Kronecker product of two Fraction matrices."""
    return tuple(tuple(x * y for x in ra for y in rb) for ra in a for rb in b)


def _nnz_max(mat) -> int:
    return max(sum(1 for v in row if v != 0) for row in mat)


def _exact(mat, dtype) -> bool:
    arr = _cast(mat, dtype)
    return all(Fraction(float(arr[i, j])) == mat[i][j] for i in range(len(mat)) for j in range(len(mat[0])))


@dataclass(frozen=True, eq=False)
class Plan:
    m: int
    th: Transforms                # F(m, kh)
    tw: Transforms                # F(m, kw)
    dtype: str
    KB: np.ndarray                # (ah*aw, ah*aw)  B^T ⊗ B^T in dtype (for the bound's magnitudes)
    BTh: np.ndarray               # (ah, ah)        B^T of the row axis, in dtype
    BTw: np.ndarray               # (aw, aw)        B^T of the column axis, in dtype
    KA: np.ndarray                # (m*m, ah*aw)    A^T ⊗ A^T in dtype (for the bound's row sums)
    ATh: np.ndarray               # (m, ah)         A^T of the row axis, in dtype
    ATw: np.ndarray               # (m, aw)         A^T of the column axis, in dtype
    KG: np.ndarray                # (ah*aw, kh*kw)  G ⊗ G in dtype
    k_in_h: int                   # roundings along a path in the input transform's row pass
    k_in_w: int                   # ... and in its column pass
    k_out_h: int                  # ... in the output transform's row pass
    k_out_w: int                  # ... and in its column pass
    k_filter: int                 # ... in the filter transform

    @property
    def k_in(self) -> int:
        """Roundings along a path in the input transform (two 1-D passes)."""
        return self.k_in_h + self.k_in_w

    @property
    def in_underflow(self) -> float:
        """Absolute underflow of the input transform in units of eta (as :attr:`out_underflow`)."""
        return self.k_in_h * float(np.abs(self.BTw).sum(axis=1).max()) + self.k_in_w

    @property
    def k_out(self) -> int:
        """Roundings along a path in the output transform (two 1-D passes)."""
        return self.k_out_h + self.k_out_w

    @property
    def out_underflow(self) -> float:
        """Absolute underflow of the output transform in units of eta: the row pass's loss
        carried through the column pass's absolute row sums, plus the column pass's own."""
        return self.k_out_h * float(np.abs(self.ATw).sum(axis=1).max()) + self.k_out_w

    @property
    def ah(self):
        return self.th.alpha

    @property
    def aw(self):
        return self.tw.alpha


@lru_cache(maxsize=None)
def plan(m: int, kh: int, kw: int, points: str, dtype: str, absolute: bool = False) -> Plan:
    """Transforms for F(m, kh) x F(m, kw). ``absolute``: |matrices| in float64, for bounds."""
    th, tw = transforms(m, kh, points), transforms(m, kw, points)
    kb, ka, kg = _kron(th.BT, tw.BT), _kron(th.AT, tw.AT), _kron(th.G, tw.G)
    ath, atw, bth, btw = th.AT, tw.AT, th.BT, tw.BT
    if absolute:
        kb, ka, kg, ath, atw, bth, btw = ([[abs(v) for v in row] for row in mat]
                                          for mat in (kb, ka, kg, ath, atw, bth, btw))
        f64 = np.float64
        return Plan(m, th, tw, "float64", _cast(kb, f64), _cast(bth, f64), _cast(btw, f64), _cast(ka, f64),
                    _cast(ath, f64), _cast(atw, f64), _cast(kg, f64), 0, 0, 0, 0, 0)
    k_in_h = _nnz_max(bth) + (0 if _exact(bth, dtype) else 1)     # the input transform runs as two
    k_in_w = _nnz_max(btw) + (0 if _exact(btw, dtype) else 1)     # 1-D passes too
    k_out_h = _nnz_max(ath) + (0 if _exact(ath, dtype) else 1)    # the output transform runs as two
    k_out_w = _nnz_max(atw) + (0 if _exact(atw, dtype) else 1)    # 1-D passes: rows, then columns
    k_f = _nnz_max(kg) + (0 if _exact(kg, dtype) else 1)          # one dot product with G ⊗ G
    return Plan(m, th, tw, dtype, _cast(kb, dtype), _cast(bth, dtype), _cast(btw, dtype), _cast(ka, dtype),
                _cast(ath, dtype), _cast(atw, dtype), _cast(kg, dtype), k_in_h, k_in_w, k_out_h, k_out_w, k_f)


# ---- the Winograd valid correlation ----------------------------------------------------------
def _tiles(x: np.ndarray, pads, p: Plan):
    """Zero-pad x (N, C, H, W) by pads ((top, bottom), (left, right)) (negative: crop),
    round the output grid up to whole tiles, and gather the tiles as D: (ah*aw, C * N*Th*Tw)."""
    n, c, h, w = x.shape
    (top, bottom), (left, right) = pads
    kh, kw, m = p.th.r, p.tw.r, p.m
    ho, wo = h + top + bottom - kh + 1, w + left + right - kw + 1
    th_, tw_ = -(-ho // m), -(-wo // m)
    xp = np.zeros((n, c, th_ * m + kh - 1, tw_ * m + kw - 1), dtype=x.dtype)   # ragged edge: zero tiles
    src = x[:, :, max(0, -top):h - max(0, -bottom), max(0, -left):w - max(0, -right)]
    xp[:, :, max(0, top):max(0, top) + src.shape[2], max(0, left):max(0, left) + src.shape[3]] = src
    s = xp.strides
    view = as_strided(xp, (p.ah, p.aw, c, n, th_, tw_), (s[2], s[3], s[1], s[0], m * s[2], m * s[3]))
    return np.ascontiguousarray(view).reshape(p.ah * p.aw, c * n * th_ * tw_), ho, wo, th_, tw_


def filter_transform(w: np.ndarray, p: Plan) -> np.ndarray:
    """U = G g G^T per (f, c), as one GEMM with G ⊗ G in the working dtype: (ah*aw, F, Cg)."""
    f, cg, kh, kw = w.shape
    return (p.KG @ w.reshape(f * cg, kh * kw).T).reshape(p.ah * p.aw, f, cg)


# The work is cut into chunks, each whole samples or one band of whole tile rows of one
# sample, sized so that the chunk's tiles take about CHUNK_BYTES (but hold at least MIN_TILES
# tiles, so that the alpha^2 GEMMs stay wide enough for BLAS): the tiles, their transforms
# and the products of a chunk stay in cache from the gather to the scatter, and the same two
# buffers are reused chunk after chunk (no fresh pages to fault in). Every output element's
# arithmetic is the same for any chunking (BLAS may reorder the channel sum, which the bound
# allows: it holds for any order). Measured on the 2-core EPYC, OpenBLAS 0.3.31 Haswell,
# float32, one core, F4 / F6 (medians of 9, same run, with the input and output transforms
# as 1-D passes): layer a 30.5 / 26.6 -> 16.4 / 17.6 ms (the whole-batch stages had run
# from memory, on freshly faulted pages, and the scatter copied 4-float runs), b 15.3 /
# 18.2 -> 13.0 / 15.2, c 17.4 / 21.3 -> 16.3 / 19.3; budgets of 1-4 MiB and MIN_TILES
# 64-512 hardly differ. Two workers with single-threaded BLAS over the chunks (as im2col
# does; BLAS held to one thread for the whole call) were no faster than this one stream with
# BLAS's two threads, and bimodal (2 threads, medians of 9 in one run: a 15.3 vs 15.9 ms,
# b 13.6 vs 11.0, c 15.3 vs 13.9; best runs 9 ms when the other core was quiet): one stream.
CHUNK_BYTES = 2 << 20
MIN_TILES = 128


def winograd_valid(x: np.ndarray, pads, w: np.ndarray, groups: int, p: Plan, bias=None) -> np.ndarray:
    """Valid cross-correlation of x padded by ``pads`` with w (F, C/g, kh, kw), plus ``bias``:
    a new contiguous (N, F, Ho, Wo) array."""
    n, c, h, wd = x.shape
    f, cg = w.shape[:2]
    kh, kw, m, xi = p.th.r, p.tw.r, p.m, p.ah * p.aw
    (top, bottom), (left, right) = pads
    ho, wo = h + top + bottom - kh + 1, wd + left + right - kw + 1
    out = np.empty((n, f, ho, wo), dtype=p.KB.dtype)
    if out.size == 0:
        return out
    U = filter_transform(w, p).reshape(xi, groups, f // groups, cg)     # U: (xi, g, Fg, Cg)
    th_, tw_ = -(-ho // m), -(-wo // m)
    rows = max(1, CHUNK_BYTES // max(xi * max(c, f) * tw_ * out.itemsize, 1),   # tile rows a chunk may hold,
               -(-MIN_TILES // tw_))                                        # but enough for the GEMMs
    if rows >= th_:                                      # whole samples: (first sample, samples, 0, th_)
        ns = min(n, rows // th_)
        chunks = [(i, min(ns, n - i), 0, th_) for i in range(0, n, ns)]
    else:                                                # bands of one sample: (sample, 1, first row, rows)
        ns = 1
        chunks = [(i, 1, t0, min(rows, th_ - t0)) for i in range(n) for t0 in range(0, th_, rows)]
    x = x.astype(out.dtype, copy=False)
    src = (slice(max(0, -top), h - max(0, -bottom)), slice(max(0, -left), wd - max(0, -right)))
    hs, ws = len(range(h)[src[0]]), len(range(wd)[src[1]])
    size = xi * max(c, f) * ns * min(rows, th_) * tw_

    # the padded samples of a chunk (ragged edge: zero tiles) and two chunk buffers
    xp = np.zeros((ns, c, th_ * m + kh - 1, tw_ * m + kw - 1), dtype=out.dtype)
    dst = xp[:, :, max(0, top):max(0, top) + hs, max(0, left):max(0, left) + ws]
    buf_a = np.empty(size, dtype=out.dtype)          # tiles D, transformed tiles V, row-transformed Z
    buf_b = np.empty(size, dtype=out.dtype)          # row-transformed tiles T, products M, output tiles Y
    s = xp.strides
    last = -1
    with np.errstate(all="ignore"):                  # NaN/Inf propagate silently
        for i, k, t0, nt in chunks:
            if i != last:
                np.copyto(dst[:k], x[i:i + k, :, src[0], src[1]])
                last = i
            pc = k * nt * tw_                        # tiles in this chunk
            view = as_strided(xp[:, :, t0 * m:], (p.ah, p.aw, c, k, nt, tw_),
                              (s[2], s[3], s[1], s[0], m * s[2], m * s[3]))
            D = buf_a[:xi * c * pc].reshape(xi, c * pc)
            np.copyto(D.reshape(p.ah, p.aw, c, k, nt, tw_), view)
            # input transform in two 1-D passes (a third of the flops of one B^T ⊗ B^T GEMM):
            # T = B^T_h D along the tile rows, then V[r] = B^T_w T[r] along the columns
            T = np.matmul(p.BTh, D.reshape(p.ah, p.aw * c * pc), out=buf_b[:xi * c * pc].reshape(p.ah, -1))
            V = np.matmul(p.BTw, T.reshape(p.ah, p.aw, c * pc), out=buf_a[:xi * c * pc].reshape(p.ah, p.aw, -1))
            V = V.reshape(xi, c * pc)
            M = np.matmul(U, V.reshape(xi, groups, cg, pc),
                          out=buf_b[:xi * f * pc].reshape(xi, groups, f // groups, pc))
            # output transform in two 1-D passes, so that each tile row comes out contiguous:
            # Z = A^T_h M (rows), then Y[r] = Z[r]^T A_w (columns): Y (m, F, k, nt, Tw, m)
            Z = np.matmul(p.ATh, M.reshape(p.ah, p.aw * f * pc), out=buf_a[:m * p.aw * f * pc].reshape(m, -1))
            Y = np.matmul(Z.reshape(m, p.aw, f * pc).transpose(0, 2, 1), p.ATw.T,
                          out=buf_b[:m * f * pc * m].reshape(m, f * pc, m))
            Y6 = Y.reshape(m, f, k, nt, tw_, m).transpose(2, 1, 3, 0, 4, 5)     # (k, F, nt, m, Tw, m)
            _untile(Y6, out[i:i + k, :, t0 * m:min(ho, (t0 + nt) * m)], bias)
    return out


def _blocks(size: int, m: int):
    """(first tile, tiles, rows per tile) of the whole tiles and of the cropped last tile."""
    out = [(0, size // m, m)] if size // m else []
    return out + ([(size // m, 1, size % m)] if size % m else [])


def _untile(Y6: np.ndarray, out: np.ndarray, bias) -> np.ndarray:
    """Copy the tiled output Y6 (N, F, Th, m, Tw, m) into ``out`` (N, F, Ho, Wo), cropping the
    ragged last tiles and adding the bias in the same pass (one write of the output)."""
    n, f, ho, wo = out.shape
    m = Y6.shape[3]
    for t0, nt, mr in _blocks(ho, m):
        for u0, nu, mc in _blocks(wo, m):
            dst = out[:, :, t0 * m:t0 * m + nt * mr, u0 * m:u0 * m + nu * mc]
            dst = as_strided(dst, (n, f, nt, mr, nu, mc), (dst.strides[0], dst.strides[1], mr * dst.strides[2],
                                                          dst.strides[2], mc * dst.strides[3], dst.strides[3]))
            src = Y6[:, :, t0:t0 + nt, :mr, u0:u0 + nu, :mc]
            if bias is None:
                np.copyto(dst, src)
            else:
                np.add(src, bias[None, :, None, None, None, None], out=dst)
    return out


def _flipped_transposed(w: np.ndarray, groups: int) -> np.ndarray:
    """OIHW (F, C/g) -> (C, F/g) kernel of the transposed conv, spatially flipped."""
    f, cg, kh, kw = w.shape
    wt = w.reshape(groups, f // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cg, f // groups, kh, kw)
    return wt[:, :, ::-1, ::-1].copy()


def dx_padding(spec: ConvSpec):
    """Padding of gy for dx as ((top, bottom), (left, right)); negative values crop."""
    (pt, pb), (pl, pr) = spec.padding
    return ((spec.kh - 1 - pt, spec.kh - 1 - pb), (spec.kw - 1 - pl, spec.kw - 1 - pr))


# ---- stride through a polyphase (space-to-depth) decomposition ------------------------------
# With stride s, y[i] = sum_k xp[i*s + k] w[k]. Writing k = q*s + a (phase a < s):
#     y[i] = sum_a sum_q xs_a[i + q] ws_a[q],  xs_a[j] = xp[j*s + a],  ws_a[q] = w[q*s + a],
# a stride-1 correlation with the phases stacked as extra input channels (c-major, so groups
# stay contiguous) and a ceil(k/s) kernel, zero where q*s + a >= k. Phases a >= k meet only
# zero taps and are dropped. The phase sum joins the channel sum of the GEMM stage, so the
# error model is the stride-1 one with C/g * phases channels. dx is the stride-1 dx of the
# stacked problem scattered back: every padded-input pixel belongs to exactly one phase.
@dataclass(frozen=True)
class Phases:
    sh: int
    sw: int
    ph: int                       # phases kept per axis: min(s, k)
    pw: int
    kh: int                       # per-phase kernel: ceil(k / s)
    kw: int
    lh: int                       # per-phase input length: Ho + kh - 1
    lw: int


def phases(spec: ConvSpec) -> Phases:
    (sh, sw), (ho, wo) = spec.stride, spec.out_hw
    kh, kw = -(-spec.kh // sh), -(-spec.kw // sw)
    return Phases(sh, sw, min(sh, spec.kh), min(sw, spec.kw), kh, kw, ho + kh - 1, wo + kw - 1)


def stacked_input(x: np.ndarray, spec: ConvSpec, ph: Phases) -> np.ndarray:
    """(N, C, H, W) -> (N, C*ph*pw, lh, lw): the padded input's phases as channels."""
    n, c = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(spec.padding))
    xs = np.zeros((n, c, ph.ph, ph.pw, ph.lh, ph.lw), dtype=x.dtype)
    for a in range(ph.ph):
        for b in range(ph.pw):
            src = xp[:, :, a::ph.sh, b::ph.sw][:, :, :ph.lh, :ph.lw]
            xs[:, :, a, b, :src.shape[2], :src.shape[3]] = src
    return xs.reshape(n, c * ph.ph * ph.pw, ph.lh, ph.lw)


def stacked_kernel(w: np.ndarray, ph: Phases) -> np.ndarray:
    """(F, C/g, KH, KW) -> (F, C/g*ph*pw, ceil(KH/sh), ceil(KW/sw)), zero-filled."""
    f, cg = w.shape[:2]
    ws = np.zeros((f, cg, ph.ph, ph.pw, ph.kh, ph.kw), dtype=w.dtype)
    for a in range(ph.ph):
        for b in range(ph.pw):
            src = w[:, :, a::ph.sh, b::ph.sw]
            ws[:, :, a, b, :src.shape[2], :src.shape[3]] = src
    return ws.reshape(f, cg * ph.ph * ph.pw, ph.kh, ph.kw)


def unstack_gradient(dxs: np.ndarray, spec: ConvSpec, ph: Phases) -> np.ndarray:
    """Scatter (N, C*ph*pw, lh, lw) back to the padded input's pixels and crop the padding;
    pixels that no phase kept (no window reaches them) get zero."""
    n, c = spec.n, spec.c
    (pt, pb), (pl, pr) = spec.padding
    dxp = np.zeros((n, c, spec.h + pt + pb, spec.w + pl + pr), dtype=dxs.dtype)
    d6 = dxs.reshape(n, c, ph.ph, ph.pw, ph.lh, ph.lw)
    for a in range(ph.ph):
        for b in range(ph.pw):
            tgt = dxp[:, :, a::ph.sh, b::ph.sw]
            rows, cols = min(tgt.shape[2], ph.lh), min(tgt.shape[3], ph.lw)
            tgt[:, :, :rows, :cols] = d6[:, :, a, b, :rows, :cols]
    return np.ascontiguousarray(dxp[:, :, pt:pt + spec.h, pl:pl + spec.w])


def stride1_problem(x, w, spec: ConvSpec):
    """(input, pads, kernel, Phases or None) of the equivalent stride-1 correlation."""
    if spec.stride == (1, 1):
        return x, spec.padding, w, None
    ph = phases(spec)
    return stacked_input(x, spec, ph), ((0, 0), (0, 0)), stacked_kernel(w, ph), ph


def dx_stride1(gy, w, spec: ConvSpec, ph: Phases | None, valid):
    """dx through ``valid(input, pads, kernel)`` (the Winograd correlation or its bound)."""
    if ph is None:
        return valid(gy, dx_padding(spec), _flipped_transposed(w, spec.groups))
    pads = ((ph.kh - 1, ph.kh - 1), (ph.kw - 1, ph.kw - 1))
    return unstack_gradient(valid(gy, pads, _flipped_transposed(stacked_kernel(w, ph), spec.groups)), spec, ph)


# ---- the error model -------------------------------------------------------------------------
class WinogradBound(ErrorModel):
    """Per-element bound of F(m, r) with the named points; dw and db are direct sums."""

    exact_on_integer_data = False

    def __init__(self, m: int, points: str):
        self.m, self.points = m, points
        self.name = f"winograd-F{m}-{points}"

    def describe(self) -> str:
        t = transforms(self.m, 3, self.points)
        return (f"winograd F({self.m},r) points {t.describe().split('points ')[1]} (r=3 shown): "
                "|err| <= gamma_K(u)*|A^T⊗A^T|[sum_c (|G⊗G||g|)⊙(|B^T⊗B^T||d|)] + underflow, "
                "K = nnz(G⊗G) + nnz(B^T_h) + nnz(B^T_w) + C/g + nnz(A^T_h) + nnz(A^T_w) "
                "(+1 each inexact matrix, +1 bias); "
                "dw, db: direct sum gamma_K*sum|x||gy|")

    def magnitude(self, x64: np.ndarray, pads, w64: np.ndarray, groups: int, p: Plan):
        """The Winograd expression on absolute values (float64), plus max|U| and max|V|."""
        ap = plan(p.m, p.th.r, p.tw.r, self.points, p.dtype, absolute=True)
        ax, aw = np.abs(x64), np.abs(w64)
        s = winograd_valid(ax, pads, aw, groups, ap)
        D = _tiles(ax, pads, ap)[0]
        vmax = float((ap.KB @ D).max()) if D.size else 0.0
        umax = float(filter_transform(aw, ap).max())
        return s, umax, vmax

    def _theta(self, p: Plan, channels: int, bias: bool, dtype: str) -> tuple[float, int]:
        u = UNIT_ROUNDOFF[dtype]
        k = p.k_filter + p.k_in + channels + p.k_out + int(bias)
        return gamma(k, u), k

    def winograd_bound(self, x64, pads, w64, b64, groups: int, dtype: str, kh: int, kw: int) -> np.ndarray:
        """Bound on the error of winograd_valid(x64, pads, w64) + bias, per element."""
        p = plan(self.m, kh, kw, self.points, dtype)
        channels = w64.shape[1]
        theta, k = self._theta(p, channels, b64 is not None, dtype)
        s, umax, vmax = self.magnitude(x64, pads, w64, groups, p)
        if b64 is not None:
            s = s + np.abs(b64)[None, :, None, None]
        # Underflow (absolute): each product may lose up to eta; propagated through the
        # later stages with their absolute row sums (crude, scalar, rigorous to first order).
        eta = UNDERFLOW_UNIT[dtype]
        e_v = p.in_underflow * eta
        e_u = p.k_filter * eta
        e_m = channels * ((1 + theta) * (umax * e_v + vmax * e_u) + e_u * e_v + eta)
        e_y = float(np.abs(p.KA).sum(axis=1).max()) * e_m + (p.out_underflow + int(b64 is not None)) * eta
        # the bound itself is evaluated in float64 from non-negative terms: low by at most gamma(u64)
        k64 = k + 4
        return (theta * s + (1 + theta) * e_y) * (1 + gamma(k64, UNIT_ROUNDOFF["float64"]))

    def bounds(self, ctx):
        spec = ctx.spec
        out = {}
        xin, pads, wk, ph = stride1_problem(ctx.x, ctx.w, spec)
        kh, kw = wk.shape[2:]
        out["y"] = self.winograd_bound(xin, pads, wk, ctx.b, spec.groups, spec.dtype, kh, kw)
        if "dx" in ctx.outputs:
            out["dx"] = dx_stride1(ctx.gy, ctx.w, spec, ph, lambda g, p, k: self.winograd_bound(
                g, p, k, None, spec.groups, spec.dtype, kh, kw))
        u, eta = ctx.u, ctx.eta
        for o in ("dw", "db"):                                # direct sums, any order
            if o in ctx.outputs:
                k = ctx.terms[o]
                out[o] = gamma(k, u) * ctx.scale[o] + k * eta
        return out


# ---- the plugins -----------------------------------------------------------------------------
class Winograd(ConvPlugin):
    """F(m x m, r x r) with the named interpolation points; the registered plugins below fix
    ``m`` and ``points``, :func:`winograd_plugin` makes one for any other pair."""

    m: int = 4
    points: str = "improved"
    capabilities = Capabilities(dtypes=("float32", "float64"), max_stride=None, max_dilation=1,
                                kernel_min=1, kernel_max=KERNEL_MAX, nonfinite_inputs=False,
                                notes="any stride (polyphase), dilation 1; kernels 1..5 per side; a NaN/Inf "
                                      "input spreads to every output of its tiles (and Inf-Inf gives NaN), "
                                      "unlike a direct sum, so NaN/Inf inputs are not declared")
    backward_method = ("dx by Winograd (full correlation with the flipped kernel; polyphase for stride > 1); "
                       "dw, db by direct summation")

    def _plan(self, kh: int, kw: int, dtype: str) -> Plan:
        return plan(self.m, kh, kw, self.points, dtype)

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        xin, pads, wk, _ = stride1_problem(x, w, spec)
        return winograd_valid(xin, pads, wk, spec.groups, self._plan(*wk.shape[2:], spec.dtype), b)

    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        ph = phases(spec) if spec.stride != (1, 1) else None
        wk = stacked_kernel(w, ph) if ph else w
        p = self._plan(*wk.shape[2:], spec.dtype)
        dx = dx_stride1(gy, w, spec, ph, lambda g, pads, k: winograd_valid(g, pads, k, spec.groups, p))
        # dw: direct sum over N*Ho*Wo per kernel tap, one GEMM per tap and group
        (pt, pb), (pl, pr) = spec.padding
        (sh, sw), (ho, wo) = spec.stride, spec.out_hw
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        n, f = gy.shape[:2]
        g, cg, fg = spec.groups, spec.c // spec.groups, f // spec.groups
        gmat = gy.reshape(n, g, fg, ho * wo).transpose(1, 2, 0, 3).reshape(g, fg, n * ho * wo)
        dw = np.empty(spec.w_shape, dtype=gy.dtype)
        for i in range(spec.kh):
            for j in range(spec.kw):
                win = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]   # (N, C, Ho, Wo)
                xmat = win.reshape(n, g, cg, ho * wo).transpose(1, 0, 3, 2).reshape(g, n * ho * wo, cg)
                dw[:, :, i, j] = np.matmul(gmat, xmat).reshape(f, cg)
        db = gy.sum(axis=(0, 2, 3)) if b is not None else None
        return dx, dw, db


def winograd_plugin(m: int, points: str = "improved") -> Winograd:
    """A Winograd F(m x m, r x r) plugin with ``points`` ("classic" or "improved") for any tile
    size the transform generator supports: the registered ones are F2, F4, F6 (improved) and F4,
    F6 (classic); accuracy studies need others too (F8, F2 classic). Same code, same error model."""
    transforms(m, 3, points)                      # an unknown point set or tile size fails here
    cls = type(f"WinogradF{m}{points.title()}", (Winograd,), dict(
        m=m, points=points, name=f"winograd-f{m}-{points}", description=f"Winograd F({m}x{m}, rxr), {points} points",
        error_model=WinogradBound(m, points)))
    return cls()


class WinogradF2(Winograd):
    m, points = 2, "improved"
    name = "winograd-f2"
    description = "Winograd F(2x2, rxr) from a Toom–Cook generator (Lavin & Gray 2016); 3x3 points {0, 1, -1, inf}"
    error_model = WinogradBound(2, "improved")


class WinogradF4(Winograd):
    m, points = 4, "improved"
    name = "winograd-f4"
    description = ("Winograd F(4x4, rxr) from a Toom–Cook generator; 3x3 points {0, -1, 1, 1/2, -2, inf} "
                   "(Barabasz et al. 2020)")
    error_model = WinogradBound(4, "improved")


class WinogradF6(Winograd):
    m, points = 6, "improved"
    name = "winograd-f6"
    description = ("Winograd F(6x6, rxr) from a Toom–Cook generator; 3x3 points {0, ±1, ±1/2, ±2, inf} "
                   "(Barabasz et al. 2020)")
    error_model = WinogradBound(6, "improved")


class WinogradF4Classic(Winograd):
    m, points = 4, "classic"
    name = "winograd-f4-classic"
    description = "Winograd F(4x4, rxr); classic 3x3 points {0, ±1, ±2, inf} (Lavin & Gray 2016)"
    error_model = WinogradBound(4, "classic")


class WinogradF6Classic(Winograd):
    m, points = 6, "classic"
    name = "winograd-f6-classic"
    description = "Winograd F(6x6, rxr); classic 3x3 points {0, ±1, ±2, ±3, inf}"
    error_model = WinogradBound(6, "classic")
