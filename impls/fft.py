"""FFT convolution: real-to-complex 2-D FFTs, a complex GEMM per frequency, one inverse FFT.

The algorithm is the convolution theorem (used for CNNs by Mathieu, Henaff & LeCun 2014,
"Fast training of convolutional networks through FFTs"; Vasilache et al. 2015, "Fast
convolutional nets with fbfft"). For one output plane

    y[n, f] = sum_c  x[n, c]  (*)  w[f, c]        (*) = valid cross-correlation
            = IRFFT2( sum_c  RFFT2(x[n, c]) . conj(RFFT2(w[f, c])) )   restricted to the valid part,

so the channel sum is, at every frequency, a complex matrix product (N, C) x (C, F): the
frequencies are the batch dimension of one ``matmul``.

* Overlap-save tiling (the "FFT tiling" of cuDNN/NNPACK): the output is cut into tiles of
  ``step`` = T - K + 1 outputs, each computed from a T x T input tile on a T x T FFT grid
  (T from ``scipy.fft.next_fast_len``), so wrap-around never reaches a kept output. One
  tile of the whole image is plain FFT convolution. Tiling shrinks the kernel spectrum
  (F*C*T*T/2 values, which dominates untiled: 8-16x the input spectrum on the large-kernel
  layers) and turns the per-frequency products into (N*tiles, C) x (C, F) GEMMs. T is chosen
  by a calibrated cost model (:func:`tiling`), the same choice the error model sees.
* The kernel spectrum is pruned: the real FFT along w runs on the K non-zero rows only.
* Layout: spectra are frequency-major (Th, Tw//2+1, G, batch, C) so the GEMMs need no
  copy; the transposes between plane-major and frequency-major are fused into pocketfft's
  lane copies (a transposed view is handed to rfft2/irfft2), which is far cheaper than
  numpy's transposed copy.

* Stride by polyphase (space-to-depth) decomposition: with stride s, tap a = s q + r and
  input row s (i + q) + r, so a strided correlation is a stride-1 correlation of the s*s
  phases x_r[m] = xp[s m + r] with the phase kernels w_r[q] = w[s q + r], the phases
  becoming extra channels. Only the Ho x Wo outputs that are kept are ever transformed back.
* Dilation: a zero-inserted kernel (d (k - 1) + 1 taps, zeros between).
* Groups: a batch dimension of the per-frequency GEMM.
* Backward: dx[n, c] is the full convolution of gy with the phase kernels (the transposed
  correlation: gy zero-inserted by the stride, convolved with the kernel), computed phase by
  phase, then interleaved and cropped, which handles padding larger than the effective
  kernel minus one and strides that do not divide. dw[f, c] is the correlation of the
  input phases with gy, summed over the batch in the per-frequency GEMM; db is a sum.

Precision, declared: float64 runs in complex128 and float32 runs in complex64 throughout
(pocketfft in scipy.fft, like numpy >= 2, transforms float32 in single precision; the GEMM
is cgemm). That is deliberate: it halves memory traffic and the error model below charges
it, with u = 2^-24 for float32. Nothing is upcast.

The error is *normwise*, not per element: an FFT spreads the rounding error of every
input over the whole plane, so a tiny output next to large ones gets an error of the size
of u times the large ones. :class:`FFTNormwise` states the bound. For the same reason a
NaN or Inf in an input does not stay where a direct sum puts it: it makes the whole output
plane (and the tiles it touches) non-finite, never a wrong finite value. The capability
``nonfinite_inputs=False`` declares that.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from conv_oracle import Capabilities, ConvPlugin, ConvSpec, ErrorModel, gamma
from conv_oracle.bounds import UNDERFLOW_UNIT, UNIT_ROUNDOFF

try:
    _WORKERS = len(os.sched_getaffinity(0))
except AttributeError:  # not on Linux
    _WORKERS = os.cpu_count() or 1


# ---- geometry shared by the plugin and its error model -----------------------------------
def _effective(spec: ConvSpec) -> tuple[int, int]:
    """Taps of the dilated kernel along h and w."""
    return tuple(d * (k - 1) + 1 for k, d in zip((spec.kh, spec.kw), spec.dilation))


def _padded_hw(spec: ConvSpec) -> tuple[int, int]:
    (pt, pb), (pl, pr) = spec.padding
    return spec.h + pt + pb, spec.w + pl + pr


def _phase_hw(spec: ConvSpec) -> tuple[int, int]:
    """Size of one input phase: ceil(padded size / stride)."""
    return tuple(-(-p // s) for p, s in zip(_padded_hw(spec), spec.stride))


def _phase_kernel_hw(spec: ConvSpec) -> tuple[int, int]:
    """Taps of one phase kernel: ceil(effective kernel / stride)."""
    return tuple(-(-e // s) for e, s in zip(_effective(spec), spec.stride))


@dataclass(frozen=True)
class Tiling:
    """Overlap-save tiling of one stride-1 'valid convolution at offset' problem.

    ``grid`` is the FFT tile (Th, Tw); each tile yields ``step`` = grid - K' + 1 outputs per
    axis, ``count`` tiles per axis cover the ``out`` outputs. One tile of the whole problem
    is the untiled FFT convolution."""

    grid: tuple[int, int]
    step: tuple[int, int]
    count: tuple[int, int]
    out: tuple[int, int]
    kernel: tuple[int, int]

    @property
    def p(self) -> int:
        """Complex frequencies per tile: Th * (Tw // 2 + 1)."""
        return self.grid[0] * (self.grid[1] // 2 + 1)

    @property
    def tiles(self) -> int:
        return self.count[0] * self.count[1]

    @property
    def overlap(self) -> int:
        """Most tiles an input pixel lies in."""
        return math.prod(-(-g // s) for g, s in zip(self.grid, self.step))


def _axis_candidates(out: int, k: int) -> list[int]:
    """FFT tile sizes worth trying along one axis: fast lengths from about 2k to the
    untiled size out + k - 1 (a single tile)."""
    full = sfft.next_fast_len(out + k - 1, real=True)
    sizes, t = {full}, sfft.next_fast_len(max(2 * k, k + 3), real=True)
    while t < full:
        sizes.add(t)
        t = sfft.next_fast_len(t + 1, real=True)
    return sorted(sizes)


def _cost(t: tuple[int, int], out, k, batch: int, cin: int, cout: int, groups: int) -> float:
    """Model of the run time (ns) of one tiled FFT convolution, calibrated on this machine:
    real FFT work of inputs and outputs ~ 1.2 ns per element per log2 level plus ~0.5 us per
    plane (what makes very small tiles lose), the pruned kernel
    transform, and the per-frequency GEMMs (8 flops per complex multiply-add at ~40 GFLOP/s,
    plus ~1 us per small GEMM call)."""
    steps = [g - kk + 1 for g, kk in zip(t, k)]
    count = math.prod(-(-o // s) for o, s in zip(out, steps))
    p = t[0] * (t[1] // 2 + 1)
    lg = math.log2(t[0] * t[1])
    io = (batch * cin + batch * cout) * count * (t[0] * t[1] * lg * 1.2 + 500)
    ker = cin * cout // groups * (k[0] * t[1] * math.log2(t[1]) + 2 * p * math.log2(t[0])) * 1.2
    gemm = p * count * batch * cin * cout / groups * 8 / 40 + p * groups * 1000
    return io + ker + gemm


def tiling(out, kernel, batch: int, cin: int, cout: int, groups: int) -> Tiling:
    """The cheapest tiling (by :func:`_cost`) of a stride-1 problem with ``out`` outputs and a
    ``kernel``-tap kernel, ``cin`` input and ``cout`` output channels in all."""
    best = None
    for th in _axis_candidates(out[0], kernel[0]):
        for tw in _axis_candidates(out[1], kernel[1]):
            c = _cost((th, tw), out, kernel, batch, cin, cout, groups)
            if best is None or c < best[0]:
                best = (c, (th, tw))
    grid = best[1]
    step = tuple(min(g - k + 1, o) for g, k, o in zip(grid, kernel, out))
    count = tuple(-(-o // s) for o, s in zip(out, step))
    return Tiling(grid, step, count, tuple(out), tuple(kernel))


@functools.lru_cache(maxsize=512)
def plans(spec: ConvSpec) -> dict[str, Tiling]:
    """The tilings the plugin uses, shared with its error model: "y" (forward and dw, over
    the Ho x Wo outputs) and "dx" (over the Mh x Mw input phases; with stride 1 over the
    H x W unpadded input only)."""
    s2 = spec.stride[0] * spec.stride[1]
    cin, g = spec.c * s2, spec.groups
    k = _phase_kernel_hw(spec)
    dx_out = (spec.h, spec.w) if spec.stride == (1, 1) else _phase_hw(spec)
    return {"y": tiling(spec.out_hw, k, spec.n, cin, spec.f, g),
            "dx": tiling(dx_out, k, spec.n, spec.f, cin, g)}


# ---- polyphase (space-to-depth) helpers ---------------------------------------------------
def _to_phases(a: np.ndarray, stride, size) -> np.ndarray:
    """(B, C, h, w) -> (B, C*sh*sw, size_h, size_w): phase (rh, rw) of a[b, c] is
    a[b, c, rh::sh, rw::sw], zero-padded to ``size``; channel index c*sh*sw + rh*sw + rw."""
    (sh, sw), (mh, mw) = stride, size
    b, c, h, w = a.shape
    if (sh, sw) == (1, 1) and (h, w) == (mh, mw):
        return a
    full = np.zeros((b, c, mh * sh, mw * sw), dtype=a.dtype)
    full[:, :, :min(h, mh * sh), :min(w, mw * sw)] = a[:, :, :mh * sh, :mw * sw]
    full = full.reshape(b, c, mh, sh, mw, sw).transpose(0, 1, 3, 5, 2, 4)
    return full.reshape(b, c * sh * sw, mh, mw)


def _from_phases(p: np.ndarray, stride) -> np.ndarray:
    """Inverse of :func:`_to_phases`: (B, C*sh*sw, mh, mw) -> (B, C, mh*sh, mw*sw)."""
    sh, sw = stride
    b, cs, mh, mw = p.shape
    c = cs // (sh * sw)
    out = p.reshape(b, c, sh, sw, mh, mw).transpose(0, 1, 4, 2, 5, 3)
    return out.reshape(b, c, mh * sh, mw * sw)


def _dilated(w: np.ndarray, dilation) -> np.ndarray:
    """Zero-inserted kernel: (F, Cg, kh, kw) -> (F, Cg, dh(kh-1)+1, dw(kw-1)+1)."""
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return w
    f, c, kh, kw = w.shape
    out = np.zeros((f, c, dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=w.dtype)
    out[:, :, ::dh, ::dw] = w
    return out


# ---- tiles and spectra in frequency-major layout -------------------------------------------
def _tiles(a: np.ndarray, groups: int, plan: Tiling, window, offset) -> np.ndarray:
    """Overlap-save tiles of a (B, Ch, h, w) real array on the FFT grid: a contiguous real
    (G, B, nh, nw, Ch/G, Th, Tw) array whose tile (i, j) holds rows i*step - offset ... + window
    of ``a`` and zeros elsewhere (outside ``a`` and beyond the window). One copy per tile."""
    b, ch, h, w = a.shape
    (sh, sw), (nh, nw), (wh, ww), (oh, ow) = plan.step, plan.count, window, offset
    cg = ch // groups
    src = a.reshape(b, groups, cg, h, w)
    out = np.zeros((groups, b, nh, nw, cg, *plan.grid), dtype=a.dtype)
    for i in range(nh):
        r0 = i * sh - oh
        rs, re = max(r0, 0), min(r0 + wh, h)
        if rs >= re:
            continue
        for j in range(nw):
            c0 = j * sw - ow
            cs, ce = max(c0, 0), min(c0 + ww, w)
            if cs < ce:
                out[:, :, i, j, :, rs - r0:re - r0, cs - c0:ce - c0] = \
                    src[:, :, :, rs:re, cs:ce].transpose(1, 0, 2, 3, 4)
    return out


def _spectrum(tiles: np.ndarray) -> np.ndarray:
    """RFFT2 of (..., Th, Tw) tiles, returned frequency-major and contiguous:
    (Th, Tw//2+1, ...); complex64 for float32 data. The transpose is fused into the FFT
    (pocketfft reads the transposed view lane by lane), which is much cheaper than a copy."""
    nd = tiles.ndim
    view = tiles.transpose(nd - 2, nd - 1, *range(nd - 2))
    return sfft.rfft2(view, axes=(0, 1), workers=_WORKERS)


def _inverse(z: np.ndarray, grid) -> np.ndarray:
    """IRFFT2 of a frequency-major (Th, Tw//2+1, ...) spectrum, returned plane-major and
    contiguous: (..., Th, Tw) real (the transpose again fused into the FFT)."""
    nd = z.ndim
    return sfft.irfft2(z.transpose(*range(2, nd), 0, 1), s=grid, axes=(-2, -1), workers=_WORKERS)


_BLAS = None


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The per-frequency GEMMs: one batched ``matmul`` over the leading (frequency) axis.

    OpenBLAS's own threading is pathological on these many small-K complex GEMMs (measured
    on 2 cores: 960 ms threaded vs 22 ms single-threaded for 544 x (64x12)(12x128), and
    layer e's forward went from 2.3 s to 0.11 s), so BLAS is held to one thread for the
    duration of the call (threadpoolctl; the limit is process-wide while it lasts).
    Splitting the frequencies over Python threads as well measured no faster."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        return np.matmul(a, b)


def _kernel_spectrum(ker: np.ndarray, grid) -> np.ndarray:
    """Pruned RFFT2 of (Kh, Kw, ...) kernel taps on ``grid``: the real transform along w of the
    Kh non-zero rows only, then the complex transform along h zero-padded to Th."""
    t = sfft.rfft(ker, n=grid[1], axis=1, workers=_WORKERS)          # (Kh, Tw//2+1, ...)
    return sfft.fft(t, n=grid[0], axis=0, workers=_WORKERS, overwrite_x=True)


def _untile(z: np.ndarray, plan: Tiling, start, out) -> np.ndarray:
    """IRFFT2 of a (Th, Tw//2+1, G, B, nh, nw, Co/G) product; keeps ``step`` rows and columns
    from ``start`` in every tile and returns the stitched (B, Co, *out) real array (one copy:
    each tile's kept block goes straight to its place)."""
    _, _, g, b, nh, nw, cog = z.shape
    planes = _inverse(z, plan.grid)                                  # (G, B, nh, nw, Co/G, Th, Tw)
    (sh, sw), (r0, c0), (oh, ow) = plan.step, start, out
    y = np.empty((b, g, cog, oh, ow), dtype=planes.dtype)
    for i in range(nh):
        rows = min(sh, oh - i * sh)
        for j in range(nw):
            cols = min(sw, ow - j * sw)
            y[:, :, :, i * sh:i * sh + rows, j * sw:j * sw + cols] = \
                planes[:, :, i, j, :, r0:r0 + rows, c0:c0 + cols].transpose(1, 0, 2, 3, 4)
    return y.reshape(b, g * cog, oh, ow)


def _conv_tiled(inp: np.ndarray, ker: np.ndarray, plan: Tiling, groups: int, offset=(0, 0)) -> np.ndarray:
    """Stride-1 'valid convolution at offset' by overlap-save FFT tiles:

        out[b, o, i, j] = sum_{c, p, q} inp0[b, c, i + Kh-1 - p, j + Kw-1 - q] ker[p, q, g, c, o]

    for i, j < plan.out, where inp0 is ``inp`` shifted down/right by ``offset`` (zeros).
    inp: (B, Ci, h, w) real; ker: (Kh, Kw, G, Ci/G, Co/G) real -> (B, Co, *plan.out)."""
    b = inp.shape[0]
    kh, kw = plan.kernel
    xs = _spectrum(_tiles(inp, groups, plan, plan.grid, offset))     # (Th, Tw2, G, B, nh, nw, Ci/G)
    ks = _kernel_spectrum(ker, plan.grid)                            # (Th, Tw2, G, Ci/G, Co/G)
    p, cig, cog = plan.p, ker.shape[3], ker.shape[4]
    ys = _matmul(xs.reshape(p, groups, b * plan.tiles, cig), ks.reshape(p, groups, cig, cog))
    ys = ys.reshape(*xs.shape[:2], groups, b, *plan.count, cog)
    return _untile(ys, plan, (kh - 1, kw - 1), plan.out)


# ---- the error model ----------------------------------------------------------------------
class FFTNormwise(ErrorModel):
    r"""Normwise bound of FFT convolution, per output plane, expanded to every element.

    **The FFT.** Higham (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., Thm 24.2)
    shows that the radix-2 Cooley-Tukey FFT of length n = 2^t computes y = F_n x with

        ||y_hat - y||_2 <= t eta / (1 - t eta) ||y||_2,   eta = mu + gamma_4 (sqrt 2 + mu),

    mu the error of the computed twiddle factors. pocketfft (scipy.fft) computes the
    twiddles in higher precision and rounds them, so mu <= u and eta = u + gamma_4(sqrt2 + u)
    ~ 6.66 u per binary level. A 2-D transform on an Lh x Lw grid is a transform of length
    P = Lh Lw done level by level; pocketfft's mixed radices (2, 3, 4, 5, 7, 11) are counted
    as ceil(log2 Lh) + ceil(log2 Lw) binary levels (a radix-r pass counts as >= log2 r
    levels; that a radix-r butterfly errs no more than log2 r radix-2 levels is an assumption,
    not Higham's theorem, checked by the tightness study, which finds the measured error two
    or more orders below the bound), plus one level for the real<->complex pre/post-processing pass and one for the
    1/P scaling of the inverse:

        L = ceil(log2 Lh) + ceil(log2 Lw) + 2,   rho = L eta / (1 - L eta),

    and every forward or inverse transform here satisfies ||e||_2 <= rho ||exact||_2.

    **The frequency-domain GEMM.** Each product Z[k] = sum_c A_c[k] conj(B_c[k]) is a complex
    inner product of length K' (C/g * sh * sw phases for y, F/g for dx, N * tiles for dw), so
    (Higham section 3.6) |Z_hat - Z| <= alpha sum_c |A_c||B_c|, alpha = sqrt2 gamma_{K'+2}.

    **Tiles.** P = Th Tw is the overlap-save tile grid of :func:`plans`. An output of y or dx
    belongs to exactly one tile, whose operands are sub-windows of the whole planes, so the
    whole-plane norms below bound the tile norms. For dw every tile contributes to every
    kernel tap: the GEMM runs over N * tiles terms, S1 keeps only ||gy||_1 ||x||_2 (the gy
    tiles are disjoint, the x tiles overlap), and S2 is multiplied by sqrt(overlap), the root
    of the most tiles an input pixel lies in (Cauchy-Schwarz over the tiles).

    **Combining.** For one output plane with operands a_c (an input plane, length-P grid)
    and b_c (a kernel plane), A_c = F a_c with ||A_c||_2 = sqrt(P) ||a_c||_2 and
    ||A_c||_inf <= ||a_c||_1. Split y_hat - y = (fl(F^-1 Z_hat) - F^-1 Z_hat) + F^-1(Z_hat - Z).
    The first term is the inverse-FFT error, bounded in 2-norm (hence in max norm) by
    rho ||Z_hat||_2 / sqrt P <= rho (1 + alpha)(1 + rho) (S1 + rho sqrt(P) S2). In the
    second, every term of Z_hat - Z (the forward-FFT errors of a and b, their product,
    and the GEMM error) is a product of two spectra, and ||F^-1 v||_inf <= ||v||_1 / P with
    ||A B||_1 <= ||A||_2 ||B||_2 gives (2 rho + rho^2 + alpha (1 + rho)^2) S2. Hence, per plane,

        |y_hat - y|_max <= rho (1+alpha)(1+rho)(S1 + rho sqrt(P) S2)
                           + (2 rho + rho^2 + alpha (1+rho)^2) S2 + underflow,

        S1 = sum_c min(||a_c||_2 ||b_c||_1, ||a_c||_1 ||b_c||_2),   S2 = sum_c ||a_c||_2 ||b_c||_2.

    The leading term is c u log2(P) * S1 with c ~ 6.66. The norms are those of the whole
    channel planes (x or gy, and w): for the polyphase decomposition the per-phase sums
    are bounded by them (Cauchy-Schwarz over the phases), padding adds zeros and the
    zero-inserted (dilated) kernel has the norms of w. The roles: y: a = x[n, c],
    b = w[f, c]; dx: a = gy[n, f], b = w[f, c]; dw: a = x[n, c], b = gy[n, f] summed over n.
    The bias add adds u |y + b| <= u scale per element; db is a direct sum over N Ho Wo
    (gamma_K bound). Underflow: only multiplications add an absolute error (<= 2 sqrt2 eta
    per complex product; Higham 2.8); over L levels, the GEMM and the scaling that is at most
    2 sqrt2 eta (L P (1 + sum_c ||a_c||_1 + ||b_c||_1) + K' + 1), negligible unless the data
    are near the underflow threshold.

    The bound uses the arithmetic actually used: u of the tested dtype (complex64 for
    float32, complex128 for float64).
    """

    name = "fft-normwise"
    exact_on_integer_data = False   # twiddle factors are irrational: no exactness on integers

    @staticmethod
    def rho(spec: ConvSpec, grid) -> tuple[float, int]:
        """(rho, L): the relative normwise error of one transform on ``grid`` and its levels."""
        u = UNIT_ROUNDOFF[spec.dtype]
        levels = math.ceil(math.log2(grid[0])) + math.ceil(math.log2(grid[1])) + 2
        eta = u + gamma(4, u) * (math.sqrt(2) + u)
        return levels * eta / (1 - levels * eta), levels

    @staticmethod
    def plane_bound(spec: ConvSpec, a: np.ndarray, b: np.ndarray, grid, terms: int, *,
                    either_way: bool = True, overlap: int = 1) -> np.ndarray:
        """Bound per (i, j) plane of sum_c a[i, c] (*) b[c, j] computed on FFT ``grid`` with a
        ``terms``-long complex GEMM: a (I, C, ...) and b (C, J, ...) hold the operand planes;
        returns (I, J) float64. ``either_way=False`` keeps only ||a||_1 ||b||_2 in S1 (valid when
        a's planes are split into overlapping tiles); ``overlap`` multiplies S2 by its root."""
        u, eta = UNIT_ROUNDOFF[spec.dtype], UNDERFLOW_UNIT[spec.dtype]
        rho, levels = FFTNormwise.rho(spec, grid)
        alpha = math.sqrt(2) * gamma(terms + 2, u)
        p = grid[0] * grid[1]
        a = a.reshape(*a.shape[:2], -1)
        b = b.reshape(*b.shape[:2], -1)
        a2 = np.sqrt(np.einsum("icp,icp->ic", a, a))              # (I, C)
        a1 = np.abs(a).sum(-1)
        b2 = np.sqrt(np.einsum("cjp,cjp->cj", b, b))              # (C, J)
        b1 = np.abs(b).sum(-1)
        s1 = a1[:, :, None] * b2[None]
        if either_way:
            s1 = np.minimum(s1, a2[:, :, None] * b1[None])
        s1 = s1.sum(1)
        s2 = math.sqrt(overlap) * (a2 @ b2)
        under = 2 * math.sqrt(2) * eta * (levels * p * (1 + a1.sum(1)[:, None] + b1.sum(0)[None])
                                          + terms + 1)
        return (rho * (1 + alpha) * (1 + rho) * (s1 + rho * math.sqrt(p) * s2)
                + (2 * rho + rho**2 + alpha * (1 + rho) ** 2) * s2 + under)

    def bounds(self, ctx) -> dict[str, np.ndarray]:
        spec = ctx.spec
        u, eta = ctx.u, ctx.eta
        g, cg, fg = spec.groups, spec.c // spec.groups, spec.f // spec.groups
        s2 = spec.stride[0] * spec.stride[1]
        plan = plans(spec)
        out = {}
        # operand planes per group: x (N, G, Cg, H, W), w (G, Fg, Cg, kh, kw), gy (N, G, Fg, Ho, Wo)
        x = ctx.x.reshape(spec.n, g, cg, spec.h, spec.w)
        w = ctx.w.reshape(g, fg, cg, spec.kh, spec.kw)
        gy = ctx.gy.reshape(spec.n, g, fg, *spec.out_hw)
        py, pdx = plan["y"], plan["dx"]
        for o in ctx.outputs:
            if o == "y":      # a = x[n, c], b = w[f, c]; GEMM over C/g phases-channels
                planes = np.stack([self.plane_bound(spec, x[:, k], w[k].transpose(1, 0, 2, 3), py.grid, cg * s2)
                                   for k in range(g)], axis=1).reshape(spec.n, spec.f)
                bound = np.repeat(np.repeat(planes[:, :, None, None], spec.out_hw[0], 2), spec.out_hw[1], 3)
                if spec.bias:
                    bound = bound * (1 + u) + u * ctx.scale["y"]
            elif o == "dx":   # a = gy[n, f], b = w[f, c]; GEMM over F/g
                planes = np.stack([self.plane_bound(spec, gy[:, k], w[k], pdx.grid, fg)
                                   for k in range(g)], axis=1).reshape(spec.n, spec.c)
                bound = np.repeat(np.repeat(planes[:, :, None, None], spec.h, 2), spec.w, 3)
            elif o == "dw":   # a = gy[n, f] tiles, b = x[n, c] tiles; GEMM over N * tiles
                planes = np.stack([self.plane_bound(spec, gy[:, k].transpose(1, 0, 2, 3), x[:, k], py.grid,
                                                    spec.n * py.tiles, either_way=False, overlap=py.overlap)
                                   for k in range(g)], axis=0).reshape(spec.f, cg)
                bound = np.repeat(np.repeat(planes[:, :, None, None], spec.kh, 2), spec.kw, 3)
            elif o == "db":
                k = ctx.terms[o]
                bound = gamma(k, u) * ctx.scale[o] + k * eta
            else:
                raise ValueError(f"unknown output {o!r}")
            out[o] = np.ascontiguousarray(bound, dtype=np.float64)
        return out

    def describe(self) -> str:
        return ("fft-normwise: per (n, f) plane |err|_max <= rho(1+alpha)(1+rho)(S1 + rho sqrt(P) S2) "
                "+ (2rho + rho^2 + alpha(1+rho)^2) S2, rho = L eta/(1 - L eta), eta ~ 6.66u, "
                "L = log2 levels of the FFT grid + 2; S1, S2 sums of plane-norm products")


# ---- the plugin ---------------------------------------------------------------------------
class FFTConv(ConvPlugin):
    name = "fft"
    description = ("FFT convolution: rfft2 at next_fast_len sizes, complex GEMM per frequency, "
                   "polyphase stride, zero-inserted dilation; float32 in complex64")
    capabilities = Capabilities(dtypes=("float32", "float64"), nonfinite_inputs=False,
                                notes="float32 transforms and GEMMs run in complex64 (declared in the error model); "
                                      "a NaN/Inf input makes its whole output plane non-finite")
    error_model = FFTNormwise()
    backward_method = ("dx: full convolution of gy with the phase kernels, dw: correlation of the input "
                       "phases with gy, both by FFT + per-frequency GEMM; db: sum")

    @staticmethod
    def _kernel_phases(w, spec):
        """(F, Cg, kh, kw) -> dilated, stride phases: (G, Fg, Cg*sh*sw, K'h, K'w)."""
        kph = _to_phases(_dilated(w, spec.dilation), spec.stride, _phase_kernel_hw(spec))
        return kph.reshape(spec.groups, spec.f // spec.groups, *kph.shape[1:])

    @staticmethod
    def _input_phases(x, spec):
        """(input phases (N, C*sh*sw, Mh, Mw), their offset in the tiles): with stride 1 the
        input itself, offset by the top/left padding (the tiles supply the zeros)."""
        (pt, pb), (pl, pr) = spec.padding
        if spec.stride == (1, 1):
            return x, (pt, pl)
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        return _to_phases(xp, spec.stride, _phase_hw(spec)), (0, 0)

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        plan = plans(spec)["y"]
        kph = self._kernel_phases(w, spec)                               # (G, Fg, C'g, K'h, K'w)
        ker = kph[..., ::-1, ::-1].transpose(3, 4, 0, 2, 1)              # flipped: correlation as convolution
        xph, offset = self._input_phases(x, spec)
        y = _conv_tiled(xph, ker, plan, spec.groups, offset)                 # (N, F, Ho, Wo)
        if b is not None:
            y += b[None, :, None, None]
        return y

    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        plan = plans(spec)
        g, (kh2, kw2) = spec.groups, _phase_kernel_hw(spec)
        kph = self._kernel_phases(w, spec)                               # (G, Fg, C'g, K'h, K'w)
        # dx: full convolution of gy with every phase kernel (gy shifted by K'-1), phases interleaved.
        (pt, _), (pl, _) = spec.padding
        ker = kph.transpose(3, 4, 0, 1, 2)                               # (K'h, K'w, G, Fg, C'g)
        if spec.stride == (1, 1):   # only the unpadded rows: offset may be negative (padding > K'-1)
            dx = _conv_tiled(gy, ker, plan["dx"], g, offset=(kh2 - 1 - pt, kw2 - 1 - pl))
        else:
            dxph = _conv_tiled(gy, ker, plan["dx"], g, offset=(kh2 - 1, kw2 - 1))
            dxp = _from_phases(dxph, spec.stride)                        # (N, C, Mh*sh, Mw*sw)
            dx = np.ascontiguousarray(dxp[:, :, pt:pt + spec.h, pl:pl + spec.w])
        # dw: per tile, the correlation of the input-phase tile with the gy tile (zero-padded to
        # the grid); the GEMM sums over the batch and the tiles.
        pw = plan["y"]
        n, fg = spec.n, spec.f // g
        xph, offset = self._input_phases(x, spec)
        xs = _spectrum(_tiles(xph, g, pw, pw.grid, offset))
        gs = _spectrum(_tiles(gy, g, pw, pw.step, (0, 0)))              # (Th, Tw2, G, N, nh, nw, Fg)
        cg2 = xs.shape[-1]
        xs = xs.reshape(pw.p, g, n * pw.tiles, cg2)
        gs = np.conjugate(gs.reshape(pw.p, g, n * pw.tiles, fg), out=gs.reshape(pw.p, g, n * pw.tiles, fg))
        dws = _matmul(gs.transpose(0, 1, 3, 2), xs)                     # (P, G, Fg, C'g)
        dws = dws.reshape(pw.grid[0], pw.grid[1] // 2 + 1, g, fg, cg2)
        planes = _inverse(dws, pw.grid)                                  # (G, Fg, C'g, Th, Tw)
        dwp = planes[..., :kh2, :kw2].reshape(spec.f, cg2, kh2, kw2)
        eh, ew = _effective(spec)
        dwd = _from_phases(dwp, spec.stride)[:, :, :eh, :ew]             # gradient of the dilated kernel
        dw = np.ascontiguousarray(dwd[:, :, ::spec.dilation[0], ::spec.dilation[1]])
        db = gy.sum(axis=(0, 2, 3)) if b is not None else None
        return dx, dw, db
