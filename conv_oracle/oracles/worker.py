"""The JAX oracle in its own process.

Mixing XLA and torch (or OpenBLAS) in one process on 2 cores makes small torch calls
60-100x slower: each library's thread pool keeps spinning after a call and starves the
next. So JAX runs in a single worker process, pinned to the last CPU, and the harness
submits cases to it asynchronously while it goes on with the implementation and torch.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

from ..spec import ConvSpec


def worker_cpu() -> int | None:
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) > 1 else None


def pin_away_from_worker() -> set[int]:
    """Keep the calling process off the worker's CPU; returns the previous affinity."""
    previous = os.sched_getaffinity(0)
    cpu = worker_cpu()
    if cpu is not None:
        os.sched_setaffinity(0, previous - {cpu})
    return previous


def _all_threads_on(cpus: set[int]) -> None:
    """Every thread of this process onto ``cpus`` (``sched_setaffinity`` moves one thread)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:             # the thread ended meanwhile
            pass


@contextmanager
def _compiling_on(every: set[int], own: set[int]):
    """While XLA compiles, its threads may use every CPU; then all go back to the worker's.
    XLA sizes its compiler's thread pool by the CPUs allowed at the first compilation, and the
    harness waits for a bucket while it compiles (0.16 instead of 0.28 s a bucket on 2 CPUs).
    The pools that run the computations were made by then, pinned: an evaluation stays on one CPU."""
    _all_threads_on(every)
    try:
        yield
    finally:
        _all_threads_on(own)


def _init(cpu, parent_pid):
    from ..isolation import worker_setup

    worker_setup(parent_pid)       # dies with the CLI (SIGKILL too); Ctrl-C is the CLI's to handle
    every = os.sched_getaffinity(0)
    if cpu is not None:
        _all_threads_on({cpu})
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from . import jax_oracle

    jax = jax_oracle._setup()
    if cpu is not None:
        jax.devices()               # the CPU client and its execution threads start now, on the worker's CPU
        jax_oracle.compile_context = lambda: _compiling_on(every, {cpu})


def _evaluate(descriptor: str, x, w, b, gy) -> dict:
    from . import jax_oracle

    return jax_oracle.reference(ConvSpec.parse(descriptor), x, w, b, gy)


def _evaluate_many(cases: list) -> list:
    """Several cases in one task (one round trip between the processes instead of one each):
    per case its answer or the exception it raised, so one bad case fails alone."""
    out = []
    for case in cases:
        try:
            out.append(_evaluate(*case))
        except Exception as exc:            # noqa: BLE001 - handed to that case's future
            out.append(exc)
    return out


def _settings() -> dict:
    from . import jax_oracle

    return jax_oracle.settings()


class JaxWorker:
    """One JAX process; ``submit_many`` returns a Future of each case's {y, dx, dw, db} in float64."""

    def __init__(self):
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init, initargs=(worker_cpu(), os.getpid()),
        )
        from ..isolation import sigint_ignored

        with sigint_ignored():            # the process starts now, deaf to Ctrl-C from its first instruction
            self._pool.submit(os.getpid)
        self._settings: dict | None = None

    def submit_many(self, cases: list[tuple]) -> Future:
        """One task for several ``(spec, x, w, b, gy)``: a Future of the list of their answers
        (each {y, dx, dw, db}, or the exception that case raised)."""
        return self._pool.submit(_evaluate_many, [(spec.descriptor(), *arrays) for spec, *arrays in cases])

    def settings(self) -> dict:
        if self._settings is None:
            self._settings = self._pool.submit(_settings).result()
        return self._settings

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
