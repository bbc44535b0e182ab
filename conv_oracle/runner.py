"""Run one case against one implementation and return a serialisable record.

The unit of work is (implementation, descriptor, seed, fill) -> :class:`CaseResult`;
it is pure and independent of every other case, so the same function serves the
pytest suite, ``conv-oracle check``, reports and worker processes.
"""
from __future__ import annotations

import json
import queue
import threading
import traceback
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

import numpy as np

from . import bounds as B
from .cases import CaseArrays, make_arrays
from .bounds import ModelBoundError, bound_context, cross_bounds, terms, total_bounds  # noqa: F401 (re-exported)
from .compare import Verdict, agrees, compare_output, error_pattern_hint
from .plugin import ConvPlugin, NotSupported
from .spec import ConvSpec

# Statuses of a case. Only PASS and REFUSED are good.
PASS, FAIL, REFUSED = "pass", "fail", "refused"
# Failure kinds beyond the per-output verdict kinds (bound, shape, dtype, nonfinite, ...)
RAISED, MUTATED, ALIASED, MODEL = "raised", "mutated-input", "aliases-input", "model"
MEMORY, HANG, CRASHED = "memory-limit", "hang", "crashed"
ANSWERED_UNSUPPORTED, REFUSED_SUPPORTED = "answered-unsupported", "refused-supported"


def plugin_name(plugin) -> str:
    """The one name of a plugin everywhere (summary, tables, FAIL blocks, replay lines): the
    name it was loaded by (entry point or module:attr), else its declared name."""
    return getattr(plugin, "registry_name", None) or plugin.name


# Searches a case record can come from: the torch differential, the declared-unsupported
# (honesty) search, and the oracle-free relations (``relation`` then names which).
ORACLE, HONESTY, RELATION = "oracle", "honesty", "relation"


@dataclass
class CaseResult:
    impl: str
    descriptor: str
    seed: int
    fill: str
    status: str                                   # pass | fail | refused
    kind: str = ""                                # failure kind when status == fail
    detail: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)   # declared-capability reasons
    search: str = ORACLE                          # oracle | honesty | relation
    relation: str = ""                            # adjoint, stride, ... when search == relation
    hint: str = ""                                # one-line hint for a recognisable error pattern
    jax: dict | None = None                       # the JAX cross-check: {"status": agree | disagree |
    #                                               skipped-nonfinite | pending, "verdicts": [...]}
    index: int = -1                               # position in its campaign (first run)

    @property
    def ok(self) -> bool:
        return self.status in (PASS, REFUSED)

    @property
    def key(self) -> tuple:
        """What identifies the case across runs (resume, replays, dedup of shrink calls)."""
        return (self.search, self.relation, self.descriptor, self.seed, self.fill)

    @property
    def signature(self) -> str:
        """What makes two failures the same bug for the report: kind and failed outputs."""
        return f"{self.kind} ({self.failed_output()})"

    def replay(self) -> str:
        relation = f" --relation {self.relation}" if self.relation else ""
        return (f"conv-oracle check {self.impl} --case '{self.descriptor}' --seed {self.seed} "
                f"--fill {self.fill}{relation}")

    def failed_output(self) -> str:
        bad = [v.output for v in self.verdicts if not v.ok]
        return ",".join(bad) or "-"

    def message(self) -> str:
        """Failure report in a fixed order: impl, descriptor, output, error vs bound, replay."""
        lines = [f"implementation: {self.impl}", f"case: {self.descriptor} (seed {self.seed}, fill {self.fill})",
                 f"failed: {self.failed_output()} [{self.kind}]"]
        if self.detail:
            lines.append(self.detail)
        lines += [v.message() for v in self.verdicts if not v.ok]
        if self.hint:
            lines.append(self.hint)
        lines.append(f"replay: {self.replay()}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        # what {"record": "case", **dataclasses.asdict(self)} gives, built field by field: asdict
        # deep-copies every value recursively and converted each verdict twice (0.25 ms a record
        # against 0.013, in check and report for every case)
        d = {"record": "case"}
        for name in _CASE_FIELDS:
            d[name] = getattr(self, name)
        d["verdicts"] = [v.to_dict() for v in self.verdicts]
        d["unsupported"] = list(self.unsupported)
        if self.jax is not None:
            d["jax"] = _copied(self.jax)
        d["replay"] = self.replay()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=float)

    @classmethod
    def from_dict(cls, d: dict) -> "CaseResult":
        known = {f.name for f in fields(cls)} - {"verdicts"}
        result = cls(**{k: d[k] for k in known if k in d})
        result.verdicts = [Verdict.from_dict(v) for v in d.get("verdicts", [])]
        return result


_CASE_FIELDS = tuple(f.name for f in fields(CaseResult))


def _copied(value):
    """A copy of nested dicts and lists (the ``jax`` field), as ``dataclasses.asdict`` makes it."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


# ---- layout ---------------------------------------------------------------------------------
def _to_layout(layout: str, x, w, gy):
    if layout == "NHWC":  # x, gy: NCHW -> NHWC; w: OIHW -> HWIO (gy None: a forward call)
        return x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), None if gy is None else gy.transpose(0, 2, 3, 1)
    return x, w, gy


def _from_layout(layout: str, out: dict) -> dict:
    if layout != "NHWC":
        return out
    back = {"y": (0, 3, 1, 2), "dx": (0, 3, 1, 2), "dw": (3, 2, 0, 1)}
    return {k: (v.transpose(back[k]) if k in back and isinstance(v, np.ndarray) and v.ndim == 4 else v)
            for k, v in out.items()}


# index (NCHW / OIHW) -> (the same element's index in an NHWC plugin's arrays, that layout's name)
_NHWC_INDEX = {"y": ((0, 2, 3, 1), "NHWC"), "dx": ((0, 2, 3, 1), "NHWC"), "dw": ((2, 3, 1, 0), "HWIO")}


def in_plugin_layout(layout: str, verdict: Verdict) -> Verdict:
    """Add the worst element's index as the plugin sees it, for an NHWC plugin."""
    if layout == "NHWC" and verdict.output in _NHWC_INDEX and verdict.worst_index is not None \
            and len(verdict.worst_index) == 4:
        order, name = _NHWC_INDEX[verdict.output]
        verdict.layout_index, verdict.layout = tuple(verdict.worst_index[i] for i in order), name
    return verdict


# ---- the run ---------------------------------------------------------------------------------
def _snapshot(arrays) -> list[bytes]:
    return [a.tobytes() for a in arrays]


def call_plugin(plugin: ConvPlugin, spec: ConvSpec, arrays: CaseArrays, backward: bool):
    """Call forward (and backward) on private copies in the plugin's layout.

    Returns (outputs in NCHW/OIHW, inputs given, their snapshots before the call)."""
    x, w, gy = (np.ascontiguousarray(a) for a in _to_layout(plugin.layout, arrays.x, arrays.w, arrays.gy))
    b = None if arrays.b is None else arrays.b.copy()
    given = [a for a in (x, w, b, gy) if a is not None]
    before = _snapshot(given)
    out = {"y": plugin.forward(x, w, b, spec)}
    if backward:
        result = plugin.backward(x, w, b, gy, spec)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise TypeError(f"backward returned {type(result).__name__}, expected a tuple (dx, dw, db)")
        out["dx"], out["dw"], out["db"] = result
    return _from_layout(plugin.layout, out), given, before


@dataclass
class Execution:
    """What calling the plugin produced, before any comparison."""

    out: dict | None = None
    error_kind: str = ""          # "" | not-supported | raised | memory-limit | hang | crashed
    error: str = ""
    mutated: bool = False
    aliased: str = ""             # name of an output that shares memory with an input


def execute(plugin: ConvPlugin, spec: ConvSpec, arrays: CaseArrays, backward: bool) -> Execution:
    """Run the plugin in this process and check mutation and aliasing where memory is visible."""
    try:
        with np.errstate(all="ignore"):   # NaN/Inf in a plugin's arithmetic is judged in its outputs, not warned of
            out, given, before = call_plugin(plugin, spec, arrays, backward)
    except NotSupported as exc:
        return Execution(error_kind="not-supported", error=str(exc))
    except MemoryError as exc:
        return Execution(error_kind=MEMORY, error=f"MemoryError: {exc}")
    except Exception as exc:
        return Execution(error_kind=RAISED, error=f"{type(exc).__name__}: {exc}\n"
                         + "".join(traceback.format_exc(limit=-3)))
    return Execution(out, mutated=_snapshot(given) != before, aliased=_aliased(out, given))


def _aliased(out: dict, given: list) -> str:
    """The first output that shares memory with an input ("" if none). Plain loops: nested
    generators cost more than the 16 exact checks themselves."""
    for name, value in out.items():
        if isinstance(value, np.ndarray):
            for a in given:
                if np.shares_memory(value, a):
                    return name
    return ""


def run_case(plugin: ConvPlugin, spec: ConvSpec, seed: int, fill: str = "normal", *,
             backward: bool | None = None, oracle=None, cross_check=None, executor=None) -> CaseResult:
    """Check one case. ``oracle(spec, x, w, b, gy) -> (truth, scale)`` defaults to torch
    float64; ``cross_check`` (a :class:`CrossCheck`) also sends the case to the JAX oracle;
    ``executor(spec, arrays, backward) -> Execution`` runs the plugin (default: in process,
    see :mod:`conv_oracle.isolation` for a worker process with a timeout and a memory limit)."""
    if backward is None:  # backward where declared for this case (direction and dtype limits)
        backward = not plugin.capabilities.backward_reasons(spec)
    run = executor or (lambda spec_, arrays_, backward_: execute(plugin, spec_, arrays_, backward_))
    result = CaseResult(plugin_name(plugin), spec.descriptor(), seed, fill, PASS)
    arrays = make_arrays(spec, seed, fill)
    reasons = plugin.capabilities.unsupported_reasons(spec)
    result.unsupported = reasons
    if reasons:  # declared unsupported: the plugin must refuse, not answer
        done = run(spec, arrays, False)
        declared = f"declared unsupported ({'; '.join(reasons)}) but"
        if done.error_kind == "not-supported":
            result.status = REFUSED
        elif done.error_kind:
            result.status, result.kind = FAIL, done.error_kind
            result.detail = f"{declared} failed instead of raising NotSupported: {done.error}"
        else:
            result.status, result.kind = FAIL, ANSWERED_UNSUPPORTED
            result.detail = f"{declared} returned an answer instead of raising NotSupported"
        return result

    done = run(spec, arrays, backward)
    if done.error_kind == "not-supported":
        result.status, result.kind = FAIL, REFUSED_SUPPORTED
        result.detail = f"raised NotSupported for a declared-supported case: {done.error}"
        return result
    if done.error_kind:
        result.status, result.kind, result.detail = FAIL, done.error_kind, done.error
        return result
    if done.aliased:   # checked first: writing an output into an input also mutates it
        result.status, result.kind, result.detail = FAIL, ALIASED, f"output {done.aliased} shares memory with an input"
        return result
    if done.mutated:
        result.status, result.kind, result.detail = FAIL, MUTATED, "an input array was modified in place"
        return result
    out = done.out

    arrays64 = arrays.as_float64()
    if oracle is None:
        from .oracles import torch_oracle
        oracle = torch_oracle.reference
    truth, scale = oracle(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy)
    ctx = bound_context(spec, arrays64, scale, truth)
    if cross_check is not None:   # the oracle itself is cross-checked whatever the plugin's bound
        cross_check.submit(result, arrays64, truth, ctx)
    try:
        limits = total_bounds(plugin.error_model, ctx, fill)
    except ModelBoundError as exc:   # blamed on the declared model: never a pass, never an assert
        result.status, result.kind, result.detail = FAIL, MODEL, f"{plugin_name(plugin)}: {exc}"
        return result
    for o in ctx.outputs if backward else ("y",):
        result.verdicts.append(in_plugin_layout(plugin.layout, compare_output(o, out.get(o), truth[o], limits[o],
                                                                              spec.dtype, scale[o])))
    if backward and not spec.bias and out.get("db") is not None:
        result.verdicts.append(Verdict("db", False, "unexpected", "returned a db although the case has no bias"))
    bad = [v for v in result.verdicts if not v.ok]
    if bad:
        result.status, result.kind = FAIL, bad[0].kind
        result.hint = next((h for v in bad if v.kind == "bound" for h in [error_pattern_hint(
            v.output, out.get(v.output), truth[v.output], limits[v.output], spec.n, arrays64.b)] if h), "")
    return result


# ---- oracle cross-check -----------------------------------------------------------------------
def oracle_disagreements(truth: dict, other: dict, ctx: B.BoundContext) -> list[Verdict]:
    """The outputs on which the other oracle is off the truth by more than the cross bound (only
    these verdicts are kept; a quick test passes the rest without building their verdict)."""
    limits = cross_bounds(ctx)
    verdicts = [compare_output(o, other.get(o), truth[o], limits[o], "float64", ctx.scale[o]) for o in ctx.outputs
                if not agrees(other.get(o), truth[o], limits[o], "float64")]
    return [v for v in verdicts if not v.ok]


@contextmanager
def single_threaded():
    """Small cases run fastest with one thread in torch and BLAS: spinning pools on
    2 cores starve whichever library runs next."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


AGREE, DISAGREE, SKIPPED_NONFINITE, PENDING = "agree", "disagree", "skipped-nonfinite", "pending"


@dataclass
class Disagreement:
    descriptor: str
    seed: int
    fill: str
    verdicts: list[Verdict]

    def message(self) -> str:
        lines = [f"oracle disagreement (torch vs JAX): {self.descriptor} (seed {self.seed}, fill {self.fill})"]
        return "\n".join(lines + [v.message() for v in self.verdicts])

    def to_dict(self) -> dict:
        return {"descriptor": self.descriptor, "seed": self.seed, "fill": self.fill,
                "verdicts": [v.to_dict() for v in self.verdicts]}

    @classmethod
    def of(cls, result: CaseResult) -> "Disagreement":
        return cls(result.descriptor, result.seed, result.fill,
                   [Verdict.from_dict(v) for v in result.jax.get("verdicts", [])])


def _pass_on(theirs: Future, mine: list[Future]) -> None:
    """The pool's answers (or failure) into the futures the caller holds, one per case."""
    if theirs.cancelled():
        for future in mine:
            future.cancel()
    elif theirs.exception() is not None:
        for future in mine:
            future.set_exception(theirs.exception())
    else:
        for future, answer in zip(mine, theirs.result()):
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)


class CrossCheck:
    """Sends each case's float64 inputs to the JAX worker without waiting; the JAX verdict
    becomes the ``jax`` field of the case record when the answer is in. A record :meth:`arm`-ed
    with a callback is handed to it from the worker's answer thread as soon as its verdict is in
    (so a stream loses nothing a killed run had judged); :meth:`finished` waits for the rest.

    A sender thread hands the cases to the worker's pool in batches. A round trip between the
    processes costs ~0.15 ms of CPU in this process (the pool's manager and feeder threads,
    pipe wake-ups) and ~0.04 ms in the worker, as much as half a small case's JAX work: when
    pinned to one core, sending each case as it came made 245 tasks of 279 cases. So the sender
    wakes at a batch's first case and sends it LINGER seconds later (a verdict comes that much
    later), or as soon as MAX_BATCH cases wait, or at once when :meth:`finished` waits for all.
    At most IN_FLIGHT tasks are in the pool at once, so the worker computes one batch while the
    next gathers."""

    IN_FLIGHT = 2
    MAX_BATCH = 32
    LINGER = 0.02

    def __init__(self, worker):
        self.worker = worker
        self.pending: dict[int, tuple] = {}      # id(record) -> (record, truth, ctx, future)
        self.armed = 0
        self.idle = threading.Condition()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()     # (future to fill, submit arguments)
        self._send_now = threading.Event()       # MAX_BATCH cases wait, or finished() waits for all
        self._draining = False                   # finished() waits for all: no more lingering
        self._sender: threading.Thread | None = None
        self._slots = threading.Semaphore(self.IN_FLIGHT)

    def _send_all(self) -> None:
        stop = False
        while not stop:
            self._slots.acquire()                       # released when that task's answers are in
            first = self._outbox.get()                  # the batch's first case (or the stop)
            if first is not None and not self._draining:
                if self._outbox.qsize() + 1 < self.MAX_BATCH:
                    self._send_now.wait(self.LINGER)
                self._send_now.clear()
            batch, item = [], first
            while item is not None:
                batch.append(item)
                if len(batch) == self.MAX_BATCH:
                    break
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if not batch:
                self._slots.release()
                continue
            mine = [future for future, _ in batch]
            try:
                theirs = self.worker.submit_many([args for _, args in batch])
            except BaseException as exc:                     # noqa: BLE001 - handed to the waiting side
                for future in mine:
                    future.set_exception(exc)
                self._slots.release()
                continue
            theirs.add_done_callback(lambda f, mine=mine: (self._slots.release(), _pass_on(f, mine)))

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._draining = True
            self._outbox.put(None)
            self._send_now.set()
            self._sender.join()
            self._sender = None
            self._draining = False

    def submit(self, result: CaseResult, arrays64: CaseArrays, truth, ctx) -> None:
        if result.fill == "nonfinite":
            # The canonical JAX problem multiplies padding zeros by the inputs, and 0*Inf is
            # NaN: its NaN/Inf pattern is not the direct convolution's, so it cannot judge these.
            result.jax = {"status": SKIPPED_NONFINITE, "verdicts": []}
            return
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_all, name="conv-oracle-jax-sender", daemon=True)
            self._sender.start()
        future: Future = Future()
        self._outbox.put((future, (ctx.spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy)))
        if self._outbox.qsize() >= self.MAX_BATCH:
            self._send_now.set()
        result.jax = {"status": PENDING, "verdicts": []}
        with self.idle:
            self.pending[id(result)] = (result, truth, ctx, future)

    def _judge(self, item) -> CaseResult:
        result, truth, ctx, future = item
        try:
            bad = oracle_disagreements(truth, future.result(), ctx)
            result.jax = {"status": DISAGREE if bad else AGREE, "verdicts": [v.to_dict() for v in bad]}
        except Exception as exc:        # the JAX worker died: no verdict, and the record says why
            result.jax = {"status": "error", "verdicts": [], "detail": f"{type(exc).__name__}: {exc}"}
        return result

    def arm(self, result: CaseResult, on_done) -> bool:
        """Call ``on_done(record)`` once its JAX verdict is in; False if it awaits none."""
        with self.idle:
            item = self.pending.pop(id(result), None)
            if item is None:
                return False
            self.armed += 1

        def done(_future):
            try:
                on_done(self._judge(item))
            finally:
                with self.idle:
                    self.armed -= 1
                    self.idle.notify_all()

        item[3].add_done_callback(done)
        return True

    def finished(self, wait: bool = False) -> list[CaseResult]:
        """The records not armed whose JAX answer came in (all of them with ``wait``, which also
        waits until every armed record has been handed over)."""
        if wait:
            self._stop_sender()          # everything queued is handed over; a later submit starts it again
        with self.idle:
            ready = [k for k, item in self.pending.items() if wait or item[3].done()]
            items = [self.pending.pop(k) for k in ready]
        done = [self._judge(item) for item in items]
        if wait:
            with self.idle:
                self.idle.wait_for(lambda: self.armed == 0)
        return done
