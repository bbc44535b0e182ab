"""What the framework candidates share: the family, the install command, the call shape.

A candidate's ``run(x, w, b, gy, stride, padding, dilation, groups, **options)`` takes NCHW/OIHW
(or NHWC/HWIO) NumPy arrays, ``padding`` as ((top, bottom), (left, right)), ``gy=None`` for the
forward pass alone, and returns ``{"y": ..., "dx": ..., "dw": ..., "db": ...}`` as NumPy arrays.
It imports nothing but its library and NumPy, so that ``conv_oracle.reproduction`` can copy its
source into a script that runs without conv-oracle.
"""
from __future__ import annotations

from typing import Callable, ClassVar

from conv_oracle import ConvPlugin, ConvSpec

INSTALL = "pip install 'conv-oracle[frameworks]'"


class FrameworkPlugin(ConvPlugin):
    """A library's conv2d behind the plugin contract. Subclasses set ``run`` (a module-level
    function, see above), ``options`` (its keyword arguments) and the declarations."""

    family = "framework"
    install = INSTALL
    run: ClassVar[Callable] = None          # staticmethod-wrapped module function
    options: ClassVar[dict] = {}

    def call(self, x, w, b, gy, spec: ConvSpec) -> dict:
        return type(self).run(x, w, b, gy, spec.stride, spec.padding, spec.dilation, spec.groups, **self.options)

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        return self.call(x, w, b, None, spec)["y"]

    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        out = self.call(x, w, b, gy, spec)
        return out["dx"], out["dw"], out.get("db")

    def setup(self) -> None:
        for module in self.requires:
            __import__(module)

    @classmethod
    def run_function(cls) -> Callable:
        return cls.run.__func__ if isinstance(cls.run, staticmethod) else cls.run
