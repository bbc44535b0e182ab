"""Deliberately faulty plugins, one per failure kind the harness must contain and classify.

Each wraps the loop reference and breaks one thing, so that everything else is right."""
import os
import time

import numpy as np

from conv_oracle import Capabilities, ConvPlugin
from impls.loop import LoopConv

_loop = LoopConv()


class _Faulty(ConvPlugin):
    description = "deliberately faulty (tests/faulty)"
    capabilities = Capabilities(max_elements=5000)

    def forward(self, x, w, b, spec):
        return _loop.forward(x, w, b, spec)

    def backward(self, x, w, b, gy, spec):
        return _loop.backward(x, w, b, gy, spec)


class Raises(_Faulty):
    name = "faulty-raises"

    def forward(self, x, w, b, spec):
        raise RuntimeError("kernel launch failed")


class WrongShape(_Faulty):
    name = "faulty-shape"

    def forward(self, x, w, b, spec):
        return _loop.forward(x, w, b, spec)[:, :, :-1] if spec.out_hw[0] > 1 else _loop.forward(x, w, b, spec)[None]


class WrongDtype(_Faulty):
    name = "faulty-dtype"

    def forward(self, x, w, b, spec):
        return _loop.forward(x, w, b, spec).astype(np.float16)


class ReturnsNaN(_Faulty):
    name = "faulty-nan"

    def forward(self, x, w, b, spec):
        y = _loop.forward(x, w, b, spec)
        y.flat[-1] = np.nan
        return y


class MutatesInput(_Faulty):
    name = "faulty-mutates"

    def forward(self, x, w, b, spec):
        y = _loop.forward(x, w, b, spec)
        x *= 0.5                    # "scratch space" reuse of the caller's input
        return y


class AliasesInput(_Faulty):
    name = "faulty-aliases"
    capabilities = Capabilities(max_elements=5000, backward=False)

    def forward(self, x, w, b, spec):
        y = _loop.forward(x, w, b, spec)
        if y.shape == x.shape:      # "in-place" output written over the input
            x[...] = y
            return x
        return y


class Hangs(_Faulty):
    name = "faulty-hangs"

    def forward(self, x, w, b, spec):
        time.sleep(3600)


class ExitsInterpreter(_Faulty):
    name = "faulty-exits"

    def forward(self, x, w, b, spec):
        os._exit(3)


class Segfaults(_Faulty):
    name = "faulty-segfault"

    def forward(self, x, w, b, spec):
        import ctypes
        ctypes.string_at(0)         # reads address 0: SIGSEGV


class AllocatesWithoutBound(_Faulty):
    name = "faulty-allocates"

    def forward(self, x, w, b, spec):
        hoard = []
        while True:
            hoard.append(np.ones(2**27))   # 1 GiB at a time, touched
