"""Deliberately faulty plugins, one per failure kind the harness must contain and classify.

Each wraps the loop reference and breaks one thing, so that everything else is right."""
import os
import sys
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


class AllocatesSlowly(_Faulty):
    """Touches 64 MiB every 0.1 s (640 MiB/s at most, slower on a busy machine), without bound."""
    name = "faulty-allocates-slowly"

    def forward(self, x, w, b, spec):
        hoard = []
        while True:
            hoard.append(np.ones(2**23))   # 64 MiB, touched
            time.sleep(0.1)


class ReservesUntouched(_Faulty):
    """Not faulty: right answers, but each call reserves 8 GiB of address space that it never
    touches (as ONNX Runtime's per-session arenas do, at 1 MiB a session): no memory fault."""
    name = "reserves-untouched"
    reserved = []

    def forward(self, x, w, b, spec):
        import mmap
        for _ in range(8):
            region = mmap.mmap(-1, 2**30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            region[0] = 1                     # one page of the GiB resident
            ReservesUntouched.reserved.append(region)
        return super().forward(x, w, b, spec)


class KeepsOnnxSessions(_Faulty):
    """Not faulty: right answers, and each call builds and keeps 600 ONNX Runtime sessions
    (the candidate's own ``run_onnxruntime``): 600 MiB of arenas reserved, ~80 MiB touched."""
    name = "keeps-onnx-sessions"
    sessions = []

    def forward(self, x, w, b, spec):
        from impls.frameworks.onnxruntime_conv import run_onnxruntime

        for width in range(1, 601):
            run_onnxruntime(np.ones((1, 1, 1, width), np.float32), np.ones((1, 1, 1, 1), np.float32), None, None,
                            (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
            KeepsOnnxSessions.sessions.append(next(reversed(run_onnxruntime.cache.values())))
        return super().forward(x, w, b, spec)


class CallsSysExit(_Faulty):
    name = "faulty-sys-exit"

    def forward(self, x, w, b, spec):
        sys.exit(3)


class RaisesKeyboardInterrupt(_Faulty):
    name = "faulty-keyboard-interrupt"

    def forward(self, x, w, b, spec):
        raise KeyboardInterrupt


class Chatty(_Faulty):
    """Writes 20 KB to stdout and stderr, from Python and from C, then fails."""
    name = "faulty-chatty"

    def forward(self, x, w, b, spec):
        for i in range(200):
            print(f"chatty stdout line {i:03d} " + "." * 40)
        os.write(2, b"chatty stderr from the file descriptor\n")
        raise RuntimeError("gave up after talking")


class Allocates30GB(_Faulty):
    name = "faulty-allocates-30gb"

    def forward(self, x, w, b, spec):
        return np.ones(30 * 10**9 // 8)


class UnknownDtype(_Faulty):
    """A malformed declaration: a dtype the harness does not know."""
    name = "faulty-unknown-dtype"
    capabilities = Capabilities(dtypes=("float32", "float128"))


class ExitsZero(_Faulty):
    """Ends the interpreter with exit code 0: a --trusted run must not pass for it."""
    name = "faulty-exits-zero"

    def forward(self, x, w, b, spec):
        os._exit(0)


class WrongElementNHWC(ConvPlugin):
    """An NHWC plugin whose y is wrong at one element: y[0, 0, 0, -1] (the last channel)."""
    name = "faulty-nhwc-element"
    description = "deliberately faulty (tests/faulty): NHWC, one output element off by one"
    layout = "NHWC"
    capabilities = Capabilities(max_elements=5000, backward=False)

    def forward(self, x, w, b, spec):
        y = _loop.forward(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.ascontiguousarray(w.transpose(3, 2, 0, 1)),
                          b, spec).transpose(0, 2, 3, 1).copy()
        y[0, 0, 0, -1] += 1.0
        return y


HUNGRY_CHILD_MARK = "conv-oracle-test-hungry-child"


class SpawnsHungryChild(_Faulty):
    """Waits on a process it started that touches 1 GiB, as a library waits on its compiler."""
    name = "faulty-hungry-child"

    def forward(self, x, w, b, spec):
        import subprocess
        subprocess.run([sys.executable, "-c", "import sys, time; block = b'x' * (1 << 30); time.sleep(3600)",
                        HUNGRY_CHILD_MARK])
        return _loop.forward(x, w, b, spec)

