"""Run an implementation in a worker process, with a per-case timeout and a memory limit.

A plugin that hangs, kills the interpreter (``os._exit``, a segfault) or allocates without
bound then costs one case, not the run: the worker is killed or found dead, the case is
reported as ``hang``, ``crashed`` or ``memory-limit`` with its descriptor, and the next
case starts a fresh worker. Mutation and aliasing are checked inside the worker, where
the plugin's memory is visible. Trusted runs may use the in-process path instead.
"""
from __future__ import annotations

import multiprocessing
import pickle
import resource
import signal

from .cases import CaseArrays
from .runner import CRASHED, HANG, RAISED, Execution, execute
from .spec import ConvSpec

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_LIMIT = 4 * 2**30   # address space the worker may add after start-up


def _address_space_in_use() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve(conn, registry_name: str, memory_limit: int | None) -> None:
    from threadpoolctl import threadpool_limits

    from . import registry

    threadpool_limits(1)
    plugin = registry.load(registry_name)
    if memory_limit:
        limit = _address_space_in_use() + memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        request = conn.recv()
        if request is None:
            return
        descriptor, arrays, backward = request
        done = execute(plugin, ConvSpec.parse(descriptor), CaseArrays(*arrays), backward)
        try:
            payload = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            payload = pickle.dumps(Execution(error_kind=RAISED, error=f"outputs cannot be sent back: {exc!r}"))
        conn.send_bytes(payload)


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker closed its pipe"
    if exitcode < 0:
        return f"the worker was killed by signal {signal.Signals(-exitcode).name}"
    return f"the worker exited with code {exitcode}"


class IsolatedExecutor:
    """Callable ``(spec, arrays, backward) -> Execution`` backed by a restartable worker."""

    def __init__(self, registry_name: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
        self.registry_name, self.timeout, self.memory_limit = registry_name, timeout, memory_limit
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._conn = None

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child, self.registry_name, self.memory_limit),
                                              daemon=True, name=f"conv-oracle-{self.registry_name}")
        self._process.start()
        child.close()

    def _stop(self) -> int | None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            code = self._process.exitcode
            self._conn.close()
            self._process = self._conn = None
            return code
        return None

    def __call__(self, spec: ConvSpec, arrays: CaseArrays, backward: bool) -> Execution:
        if self._process is None or not self._process.is_alive():
            self._stop()
            self._start()
        try:
            self._conn.send((spec.descriptor(), (arrays.x, arrays.w, arrays.b, arrays.gy), backward))
            if not self._conn.poll(self.timeout):
                self._stop()
                return Execution(error_kind=HANG, error=f"no answer within {self.timeout:g} s; the worker was killed")
            return pickle.loads(self._conn.recv_bytes())
        except (EOFError, ConnectionError, OSError):
            return Execution(error_kind=CRASHED, error=_death(self._stop()))

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(timeout=5)
            except (ConnectionError, OSError):
                pass
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
