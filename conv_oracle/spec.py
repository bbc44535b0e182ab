"""The conv2d problem: a frozen description, its output shape and its one-line descriptor.

Semantics are exactly those of ``torch.nn.functional.conv2d`` (cross-correlation);
asymmetric padding means zero-pad-then-convolve. Layout is NCHW / OIHW.
No arrays live here.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import ml_dtypes  # noqa: F401  registers numpy's "bfloat16" dtype name, used as np.dtype(spec.dtype)

DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "float64"}
DTYPE_TAGS = {v: k for k, v in DTYPES.items()}
LOW_PRECISION = ("bfloat16", "float16")   # storage formats whose products are exact in float32


class SpecError(ValueError):
    """An impossible or malformed problem description."""


@dataclass(frozen=True)
class ConvSpec:
    n: int
    c: int
    h: int
    w: int
    f: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))  # ((top, bottom), (left, right))
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = True
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("n", "c", "h", "w", "f", "kh", "kw", "groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{name}={value!r}: must be a positive integer")
        for name in ("stride", "dilation"):
            pair = getattr(self, name)
            if len(pair) != 2 or any(not isinstance(v, int) or v < 1 for v in pair):
                raise SpecError(f"{name}={pair!r}: must be two positive integers, e.g. {name}=(1, 1)")
        pads = self.padding
        if len(pads) != 2 or any(len(p) != 2 for p in pads) or any(
            not isinstance(v, int) or v < 0 for p in pads for v in p
        ):
            raise SpecError(f"padding={pads!r}: must be ((top, bottom), (left, right)) of non-negative integers")
        if self.dtype not in DTYPE_TAGS:
            raise SpecError(f"dtype={self.dtype!r}: must be one of {sorted(DTYPE_TAGS)}")
        if self.c % self.groups:
            raise SpecError(f"c={self.c} is not divisible by groups={self.groups}: choose c as a multiple of groups")
        if self.f % self.groups:
            raise SpecError(f"f={self.f} is not divisible by groups={self.groups}: choose f as a multiple of groups")
        for axis, size, pad, k, d in (("h", self.h, pads[0], self.kh, self.dilation[0]),
                                       ("w", self.w, pads[1], self.kw, self.dilation[1])):
            effective = d * (k - 1) + 1
            if effective > size + sum(pad):
                raise SpecError(
                    f"effective kernel {effective} along {axis} is larger than the padded input "
                    f"{size}+{pad[0]}+{pad[1]}={size + sum(pad)}: add padding or use a smaller kernel or dilation"
                )

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def make(cls, n, c, h, w, f, kh, kw=None, *, stride=1, padding=0, dilation=1, groups=1,
             bias=True, dtype="float32") -> "ConvSpec":
        """Friendly constructor: scalars expand to pairs; padding may be 'valid', 'same',
        an int, (ph, pw) or ((top, bottom), (left, right))."""
        kw = kh if kw is None else kw
        stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        dtype = DTYPES.get(dtype, dtype)
        return cls(n, c, h, w, f, kh, kw, stride, _padding(padding, (kh, kw), stride, dilation),
                   dilation, groups, bool(bias), dtype)

    def replace(self, **changes) -> "ConvSpec":
        return dataclasses.replace(self, **changes)

    # ---- derived shapes -----------------------------------------------------------------
    @property
    def out_hw(self) -> tuple[int, int]:
        (pt, pb), (pl, pr) = self.padding
        ho = (self.h + pt + pb - self.dilation[0] * (self.kh - 1) - 1) // self.stride[0] + 1
        wo = (self.w + pl + pr - self.dilation[1] * (self.kw - 1) - 1) // self.stride[1] + 1
        return ho, wo

    @property
    def x_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def w_shape(self):
        return (self.f, self.c // self.groups, self.kh, self.kw)

    @property
    def b_shape(self):
        return (self.f,)

    @property
    def y_shape(self):
        return (self.n, self.f, *self.out_hw)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass."""
        ho, wo = self.out_hw
        return self.n * self.f * ho * wo * (self.c // self.groups) * self.kh * self.kw

    @property
    def elements(self) -> int:
        """Elements of x, w, y together: the memory a case needs, in elements."""
        return sum(_prod(s) for s in (self.x_shape, self.w_shape, self.y_shape))

    # ---- descriptor ---------------------------------------------------------------------
    def descriptor(self) -> str:
        (pt, pb), (pl, pr) = self.padding
        return (f"n{self.n}c{self.c}h{self.h}w{self.w}f{self.f}k{self.kh}x{self.kw}"
                f"s{self.stride[0]}x{self.stride[1]}p{pt},{pb},{pl},{pr}"
                f"d{self.dilation[0]}x{self.dilation[1]}g{self.groups}b{int(self.bias)} "
                f"{DTYPE_TAGS[self.dtype]}")

    __str__ = descriptor

    @classmethod
    def parse(cls, text: str) -> "ConvSpec":
        """Inverse of :meth:`descriptor`. Short forms are accepted: ``k3`` (3x3), ``s2`` (2x2),
        ``p1`` (all sides), ``p1,2`` (top=bottom=1, left=right=2); missing fields default to
        s1 p0 d1 g1 b1 f32."""
        if not isinstance(text, str):
            raise SpecError(f"descriptor must be a string, got {type(text).__name__}")
        match = _DESCRIPTOR.fullmatch(text.strip())
        if not match:
            raise SpecError(
                f"malformed descriptor {_shown(text)}: expected the form "
                "'n2c3h9w7f4k3x3s2x1p1,0,2,1d1x1g1b1 f32'"
            )
        g = match.groupdict()
        for field, (name, letter) in _FIELDS.items():
            if g[field] is not None and int(g[field]) < 1:
                raise SpecError(f"{name} must be >= 1 in {letter + g[field]!r} of {_shown(text)}")
        try:
            pads = [int(v) for v in g["p"].split(",")] if g["p"] else [0]
        except ValueError:
            raise SpecError(f"malformed padding {g['p']!r} in {text!r}: use p1, p1,2 or p1,0,2,1") from None
        if len(pads) == 1:
            padding = ((pads[0],) * 2,) * 2
        elif len(pads) == 2:
            padding = ((pads[0],) * 2, (pads[1],) * 2)
        elif len(pads) == 4:
            padding = ((pads[0], pads[1]), (pads[2], pads[3]))
        else:
            raise SpecError(f"padding {g['p']!r} in {text!r} needs 1, 2 or 4 numbers")
        kh = int(g["kh"])
        return cls(
            n=int(g["n"]), c=int(g["c"]), h=int(g["h"]), w=int(g["w"]), f=int(g["f"]),
            kh=kh, kw=int(g["kw"] or kh),
            stride=_xy(g["sh"], g["sw"]), padding=padding, dilation=_xy(g["dh"], g["dw"]),
            groups=int(g["g"] or 1), bias=g["b"] != "0", dtype=DTYPES[g["dt"] or "f32"],
        )


_FIELDS = {"n": ("batch", "n"), "c": ("channels", "c"), "h": ("height", "h"), "w": ("width", "w"),
           "f": ("filters", "f"), "kh": ("kernel height", "k"), "kw": ("kernel width", "x"), "sh": ("stride", "s"),
           "sw": ("stride", "x"), "dh": ("dilation", "d"), "dw": ("dilation", "x"), "g": ("groups", "g")}


def _shown(text: str, longest: int = 60) -> str:
    """A descriptor quoted in a message, cut when long."""
    return repr(text if len(text) <= longest else text[:longest] + "...")


_DESCRIPTOR = re.compile(
    r"n(?P<n>\d+)c(?P<c>\d+)h(?P<h>\d+)w(?P<w>\d+)f(?P<f>\d+)k(?P<kh>\d+)(?:x(?P<kw>\d+))?"
    r"(?:s(?P<sh>\d+)(?:x(?P<sw>\d+))?)?(?:p(?P<p>[\d,]+))?(?:d(?P<dh>\d+)(?:x(?P<dw>\d+))?)?"
    r"(?:g(?P<g>\d+))?(?:b(?P<b>[01]))?(?:\s+(?P<dt>bf16|f16|f32|f64))?",
    re.ASCII,                       # \d: ASCII digits only, not every Unicode digit int() reads
)


def _xy(a, b) -> tuple[int, int]:
    a = int(a or 1)
    return (a, int(b or a))


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _pair(value, name) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise SpecError(f"{name}={value!r}: give an int or a pair of ints") from None
    return (a, b)


def _padding(padding, kernel, stride, dilation):
    """Normalise padding to ((top, bottom), (left, right)); 'same' follows PyTorch:
    total d*(k-1), the extra odd pixel goes to the bottom/right, stride must be 1."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        if stride != (1, 1):
            raise SpecError("padding='same' needs stride 1 (as in PyTorch): give explicit padding instead")
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    if isinstance(padding, str):
        raise SpecError(f"padding={padding!r}: use 'valid', 'same' or integers")
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    ph, pw = padding
    return tuple(tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in (ph, pw))
