"""Toom–Cook generator for Winograd minimal filtering F(m, r): exact transforms, then cast.

For the FIR filter (cross-correlation) ``y_i = sum_j d[i + j] g[j]``, i < m, on a tile of
``alpha = m + r - 1`` inputs, Toom–Cook picks ``alpha - 1`` finite points ``a_k`` plus the
point at infinity and gives (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016; Winograd 1980)

    y = A^T [ (G g) ⊙ (B^T d) ]

Derivation (the transposition principle). A linear convolution ``s = u * v`` of an
m-vector ``u`` and an r-vector ``v`` is: evaluate both polynomials at the points
(``E_n``: alpha x n, row k = [1, a_k, a_k^2, ...], the infinity row picks the leading
coefficient), multiply pointwise, interpolate (``C = E_alpha^-1``). Correlation is the
transpose of convolution in ``u``, so ``A^T = E_m^T``, ``G = E_r``, ``B^T = C^T``. Column k
of ``C`` holds the coefficients of the Lagrange basis polynomial
``prod_{j != k}(x - a_j) / f_k`` with ``f_k = prod_{j != k}(a_k - a_j)``; the infinity
column holds those of ``prod_j (x - a_j)``.

Scaling convention (the one the ``wincnn`` tables use, "fractions in G"): row k of ``B^T``
is multiplied by ``f_k`` and row k of ``G`` divided by it, so ``B^T`` holds the integer
(or dyadic) coefficients of ``prod_{j != k}(x - a_j)``; the sign of row 0 is flipped when
``f_0 < 0``. Points are listed finite first, infinity last, in the order given. With this
convention ``toom_cook(2, 3, (0, 1, -1))`` and ``toom_cook(4, 3, (0, 1, -1, 2, -2))``
reproduce wincnn's F(2,3) and F(4,3) matrices exactly. (Lavin & Gray's printed F(2,3)
differs only in the sign of the infinity row/column, an equivalent scaling.)

Everything is computed in :class:`fractions.Fraction`; :meth:`Transforms.cast` rounds once.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

F = Fraction

# Finite interpolation points by count (infinity is always added as the last point). A set
# depends only on the count m + r - 2, so the set of F(k,3) also serves every F(m, r) with the
# same count: 6 points are F(5,3), F(4,4), F(6,2); 8 points are F(7,3), F(6,4).
# classic: 0, ±1, ±2, ... (Lavin & Gray; wincnn examples)
# improved: Barabasz, Anderson, Soodhalter & Gregg, "Error analysis and improving the accuracy
# of Winograd convolution for deep neural networks", ACM TOMS 46(4), 2020 (arXiv:1803.10986),
# its table of empirically good points per F(k,3), as Apache TVM transcribes it with the
# paper's errors (python/tvm/topi/nn/winograd_util.py, _interpolation_points):
# F(4,3) {0, -1, 1, 1/2, -2}; F(5,3) {0, -1, 1, 1/2, -2, -1/2}; F(6,3) {0, ±1, ±1/2, ±2};
# F(7,3) {0, ±1, ±1/2, ±2, -1/4}. Measured here (float32, 48x48 output, N(0,1), C=16/64,
# `python -m conv_oracle.studies.winograd_accuracy --kernels 2 4 --tiles 4 6`): the 6-point set
# cuts F(4,4)'s error 11x and F(6,2)'s 16x, the 8-point set F(6,4)'s 320x (6.4e-3 -> 2.0e-5), the
# declared bounds shrink alike. Not taken: the paper's F(3,3) set {0, -1, 1, 1/2} (4 points) errs
# no less than classic {0, 1, -1, 2} on F(2,4) and F(4,2) (0.9-1.2x, bounds equal), and its F(8,3)
# set (9 points, {0, ±1, ±1/2, ±2, -1/4, 4}) gives a 2-3x smaller bound but up to 1.25x more error
# than the 9-point set below, which is ours (see IMPROVED_9_NOTE).
CLASSIC = (F(0), F(1), F(-1), F(2), F(-2), F(3), F(-3), F(4), F(-4), F(5), F(-5))
IMPROVED = {
    3: (F(0), F(1), F(-1)),
    5: (F(0), F(-1), F(1), F(1, 2), F(-2)),
    6: (F(0), F(-1), F(1), F(1, 2), F(-2), F(-1, 2)),
    7: (F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(2), F(-2)),
    8: (F(0), F(-1), F(1), F(1, 2), F(-1, 2), F(2), F(-2), F(-1, 4)),
    9: (F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(2), F(-2), F(3, 4), F(-3, 4)),
}
IMPROVED_9_NOTE = ("F(8,3) 'improved' {0, ±1, ±1/2, ±2, ±3/4} is our choice, not from Barabasz et al.: "
                   "the 7-point set plus the pair with the lowest float32 error among "
                   "±1/4, ±4, 1/4 & -4, ±3/2, ±3/4, ±4/3, ±3, ±2/3 "
                   "(C=64, 48x48, N(0,1), two seeds); an empirical pick, not an optimum")
POINT_SETS = ("classic", "improved")


def points_for(count: int, kind: str = "improved") -> tuple[Fraction, ...]:
    """``count`` finite points of the named set (``improved`` falls back to ``classic`` for
    counts the literature does not cover)."""
    if kind not in POINT_SETS:
        raise ValueError(f"point set {kind!r}: choose one of {POINT_SETS}")
    if count < 0 or count > len(CLASSIC):
        raise ValueError(f"{count} finite points: supported 0..{len(CLASSIC)}")
    if kind == "improved" and count in IMPROVED:
        return IMPROVED[count]
    return CLASSIC[:count]


@dataclass(frozen=True)
class Transforms:
    """Exact Toom–Cook transforms of F(m, r): AT (m x alpha), G (alpha x r), BT (alpha x alpha)."""

    m: int
    r: int
    points: tuple[Fraction, ...]         # finite points; infinity is implicit and last
    AT: tuple[tuple[Fraction, ...], ...]
    G: tuple[tuple[Fraction, ...], ...]
    BT: tuple[tuple[Fraction, ...], ...]

    @property
    def alpha(self) -> int:
        return self.m + self.r - 1

    def cast(self, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(AT, G, BT) rounded once to ``dtype`` (via float64: exact for the float32 cast
        only when the float64 value is; see :meth:`exact_in`)."""
        return tuple(_cast(mat, dtype) for mat in (self.AT, self.G, self.BT))

    def exact_in(self, dtype) -> dict[str, bool]:
        """Whether each matrix is exactly representable in ``dtype``."""
        out = {}
        for name, mat in (("AT", self.AT), ("G", self.G), ("BT", self.BT)):
            arr = _cast(mat, dtype)
            out[name] = all(F(float(arr[i, j])) == mat[i][j]
                            for i in range(len(mat)) for j in range(len(mat[0])))
        return out

    def describe(self) -> str:
        pts = ", ".join(str(p) for p in self.points)
        return f"F({self.m},{self.r}) points {{{pts}, inf}}"


def _cast(mat, dtype) -> np.ndarray:
    # Fraction -> nearest float64 is correctly rounded; a second rounding to float32 could
    # double-round, so float32 goes through an exact ratio instead.
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return np.array([[float(v) for v in row] for row in mat], dtype=np.float64)
    return np.array([[_round_to(v, dtype) for v in row] for row in mat], dtype=dtype)


def _round_to(v: Fraction, dtype) -> float:
    """Round a Fraction to the nearest value of ``dtype`` (ties to even), exactly."""
    x = dtype.type(float(v))            # candidate (possibly double-rounded)
    # check neighbours: pick the representable value nearest to v
    best = x
    for cand in (np.nextafter(x, dtype.type(-np.inf)), np.nextafter(x, dtype.type(np.inf))):
        if abs(F(float(cand)) - v) < abs(F(float(best)) - v):
            best = cand
    return best


def _poly_from_roots(roots) -> list[Fraction]:
    """Coefficients (ascending) of prod (x - a)."""
    coeffs = [F(1)]
    for a in roots:
        nxt = [F(0)] * (len(coeffs) + 1)
        for i, c in enumerate(coeffs):
            nxt[i + 1] += c
            nxt[i] -= a * c
        coeffs = nxt
    return coeffs


def _eval_rows(points, n) -> list[list[Fraction]]:
    """E_n: the alpha x n evaluation matrix, infinity row last ([0, ..., 0, 1])."""
    rows = [[p**j if j else F(1) for j in range(n)] for p in points]
    rows.append([F(0)] * (n - 1) + [F(1)])
    return rows


@lru_cache(maxsize=None)
def toom_cook(m: int, r: int, points) -> Transforms:
    """Exact A^T, G, B^T of F(m, r) for the given ``m + r - 2`` distinct finite points."""
    if m < 1 or r < 1:
        raise ValueError(f"F({m},{r}): m and r must be positive")
    pts = tuple(F(p) for p in points)
    alpha = m + r - 1
    if len(pts) != alpha - 1:
        raise ValueError(f"F({m},{r}) needs {alpha - 1} finite points (alpha = m + r - 1 = {alpha}), got {len(pts)}")
    if len(set(pts)) != len(pts):
        raise ValueError(f"points {points!r} are not distinct")
    scale = []                                   # f_k = prod_{j != k} (a_k - a_j)
    bt = []
    for k, a in enumerate(pts):
        others = pts[:k] + pts[k + 1:]
        f = F(1)
        for b in others:
            f *= a - b
        row = _poly_from_roots(others) + [F(0)]   # degree alpha-2, padded to alpha
        if k == 0 and f < 0:                      # wincnn: row 0 sign made positive
            f, row = -f, [-c for c in row]
        scale.append(f)
        bt.append(row)
    bt.append(_poly_from_roots(pts))             # infinity row: prod_j (x - a_j), degree alpha-1
    scale.append(F(1))
    g = [[e / s for e in row] for row, s in zip(_eval_rows(pts, r), scale)]
    at = [list(col) for col in zip(*_eval_rows(pts, m))]
    freeze = lambda mat: tuple(tuple(row) for row in mat)  # noqa: E731
    return Transforms(m, r, pts, freeze(at), freeze(g), freeze(bt))


def transforms(m: int, r: int, kind: str = "improved") -> Transforms:
    """F(m, r) with the named point set."""
    return toom_cook(m, r, points_for(m + r - 2, kind))


def fir_exact(tr: Transforms, d, g) -> list[Fraction]:
    """A^T [(G g) ⊙ (B^T d)] in exact arithmetic (for tests and documentation)."""
    gg = [sum((e * x for e, x in zip(row, g)), F(0)) for row in tr.G]
    dd = [sum((e * x for e, x in zip(row, d)), F(0)) for row in tr.BT]
    prod = [a * b for a, b in zip(gg, dd)]
    return [sum((e * x for e, x in zip(row, prod)), F(0)) for row in tr.AT]
