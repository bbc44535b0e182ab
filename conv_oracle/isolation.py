"""Run an implementation in a worker process, with a per-case timeout and a memory limit.

A plugin that hangs, kills the interpreter (``os._exit``, ``sys.exit``, a segfault) or
allocates without bound then costs one case, not the run: the worker is killed or found
dead, the case is reported as ``hang``, ``crashed`` or ``memory-limit`` with its descriptor
and the true cause (exit code or signal), and the next case starts a fresh worker.

The memory limit is on *resident* memory: while it waits for an answer the parent reads the
worker's RSS every ``MEMORY_POLL_S`` and kills it once it holds more than ``memory_limit``
bytes above what it held when ready (after its library's import). Address space that is
reserved but never touched is not charged: ONNX Runtime reserves a 1 MiB arena per session
and touches ~7 % of it, so a worker that had built ~3,400 sessions passed a 4 GiB
``RLIMIT_AS`` with 0.54 GiB resident and died of ``std::bad_alloc``. ``RLIMIT_DATA`` would
count the same private writable mappings, and Linux ignores ``RLIMIT_RSS``. A plugin that
touches what it allocates is still stopped within one poll of crossing the limit; one that
asks for more than the machine has gets a ``MemoryError`` at once (kind ``memory-limit`` too).
Processes the plugin starts (a library's compiler, a pool of its own) are charged to its worker:
the RSS read is of the worker and every descendant (listed again every ``CHILDREN_REFRESH_S``;
pages a forked child shares with the worker count twice, so the limit is met early, never
late), and they are killed with the worker.
Mutation and aliasing are checked inside the worker, where the plugin's memory is visible.
Trusted runs may use the in-process path instead.

The worker's stdout and stderr go to a file of its own, emptied before each case, so a
chatty plugin does not write over the terminal; the tail of what it wrote is kept in the
detail of a failing case. The worker ignores Ctrl-C (the CLI handles it) and dies with
the process that started it, SIGKILL included (Linux parent-death signal).

Default timeout: ``ORACLE_TIME_FACTOR`` times the torch oracle's own time on the case, at
least ``DEFAULT_TIMEOUT_FLOOR_S``. The oracle is timed only for cases big enough for that
product to exceed the floor; a fuzzed case (a few thousand elements) gets the floor.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import psutil

from .cases import CaseArrays
from .runner import CRASHED, HANG, MEMORY, RAISED, Execution, execute
from .spec import ConvSpec

DEFAULT_TIMEOUT_FLOOR_S = 10.0
ORACLE_TIME_FACTOR = 1000           # a pure-Python reference may be 1000x slower than oneDNN
CHEAP_MACS = 2_000_000              # torch float64 fwd+bwd of this many MACs: well under floor/factor
START_TIMEOUT_S = 120.0             # interpreter, numpy and the plugin's import, on a busy 2-core machine
EXIT_GRACE_S = 2.0                  # a worker that closed its pipe gets this long to report its exit code
OUTPUT_TAIL_BYTES = 2000
DEFAULT_MEMORY_LIMIT = 4 * 2**30    # resident memory the worker may add after start-up
MIN_MEMORY_LIMIT = 64 * 2**20       # below this, a worker cannot run the smallest case
MEMORY_POLL_S = 0.02                # between reads of a busy worker's RSS (an answer ends the wait at once)
ALLOCATING_BYTES_PER_S = 32 * 2**20  # RSS growth past the timeout that means "still allocating" (see watch)
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CHILDREN_REFRESH_S = 0.25           # between listings of a watched process's descendants (a /proc scan, ~1.6 ms)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    The signal follows the parent *thread* that started the process: start workers from a
    thread that lives as long as they should (the main thread here)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)        # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):                 # not Linux: the pipe's EOF still stops an idle worker
        return
    if os.getppid() != parent_pid:                    # the parent died before prctl took effect
        os._exit(1)


def worker_setup(parent_pid: int) -> None:
    """What every worker process does first: die with its parent, leave Ctrl-C to it."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def sigint_ignored():
    """Start child processes inside this block: they ignore Ctrl-C from their first instruction
    (an ignored signal stays ignored across exec, and Python keeps it so), so a Ctrl-C while a
    worker starts up prints no traceback from it. Main thread only; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _own_resident_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[psutil.Process]:
    """Every process that ``pid`` started, and that they started (none when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


class ProcessTree:
    """A process and its descendants, for repeated reads of their resident memory together: the
    descendants are listed again at most every ``CHILDREN_REFRESH_S`` (a listing scans /proc)."""

    def __init__(self, pid: int):
        self.pid, self._members, self._listed_at = pid, [], -float("inf")

    def resident_bytes(self) -> int | None:
        """RSS of the process plus its descendants', None when the process is gone."""
        total = _own_resident_bytes(self.pid)
        if total is None:
            return None
        if time.monotonic() - self._listed_at >= CHILDREN_REFRESH_S:
            self._members, self._listed_at = descendants(self.pid), time.monotonic()
        for child in self._members:
            try:
                total += child.memory_info().rss
            except psutil.Error:            # ended since it was listed
                pass
        return total


def resident_bytes(pid: int) -> int | None:
    """Resident memory of process ``pid`` and every process it started (RSS: pages they touched),
    None when it is gone."""
    return ProcessTree(pid).resident_bytes()


def kill_descendants(processes: list[psutil.Process]) -> None:
    """SIGKILL each of ``processes`` (listed while their parent lived) that is still running."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass


def watch(answered, pid: int, timeout: float, memory_ceiling: int | None) -> tuple[str, int]:
    """Wait until ``answered(seconds)`` (a wait of at most that long) says True: ('', 0); or stop
    waiting, because process ``pid`` went over ``memory_ceiling`` resident bytes: (MEMORY, its
    resident bytes), or ``timeout`` seconds passed: (HANG, 0). No ceiling: one wait.

    A process whose resident memory still grows by ``ALLOCATING_BYTES_PER_S`` at its deadline is
    allocating, not hung: it is watched on until it answers, crosses its ceiling or stops growing
    (so at most ceiling / that rate longer). On a VM, first touching fresh memory ran at 0.25 GiB/s:
    a 4 GiB ceiling took longer than the 10 s timeout to reach, and the fault read as a hang."""
    if memory_ceiling is None:
        return ("", 0) if answered(timeout) else (HANG, 0)
    deadline = time.monotonic() + timeout
    tree = ProcessTree(pid)
    mark_time, mark_resident, growing = time.monotonic(), tree.resident_bytes() or 0, False
    while True:
        left = deadline - time.monotonic()
        if answered(min(MEMORY_POLL_S, left) if left > 0 else MEMORY_POLL_S):
            return "", 0
        now, resident = time.monotonic(), tree.resident_bytes()
        if resident is not None and resident > memory_ceiling:
            return MEMORY, resident
        if now - mark_time >= 1.0:
            growing = resident is not None and resident - mark_resident >= ALLOCATING_BYTES_PER_S * (now - mark_time)
            mark_time, mark_resident = now, resident or 0
        if now >= deadline and not growing:
            return HANG, 0


#: the worker's ``threadpool_limits(1)``, for a process that runs no conv-oracle code
ONE_THREAD_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclasses.dataclass
class LimitedRun:
    returncode: int | None          # None: stopped by the harness (``stopped`` says why)
    output: str                     # stdout and stderr, interleaved
    stopped: str = ""               # "" | HANG | MEMORY
    resident: int = 0               # bytes it held when stopped for memory


def run_limited(command: list[str], *, timeout: float, memory_ceiling: int | None, cwd: str | None = None,
                env: dict | None = None) -> LimitedRun:
    """Run ``command`` under a worker's limits: stopped after ``timeout`` seconds, or once its
    resident memory passes ``memory_ceiling`` bytes (None: no limit); it dies with this process."""
    parent = os.getpid()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                   preexec_fn=lambda: die_with_parent(parent))

        def ended(seconds: float) -> bool:
            try:
                process.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False

        try:
            stopped, held = watch(ended, process.pid, timeout, memory_ceiling)
        finally:
            started = descendants(process.pid)
            if process.poll() is None:
                process.kill()
            process.wait()
            kill_descendants(started)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return LimitedRun(None if stopped else process.returncode, text, stopped, held)


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        ctypes.CDLL(None).fflush(None)                # C-level stdio buffers of extensions
    except (OSError, AttributeError):
        pass


def _capture_output(path: str) -> None:
    """Point fds 1 and 2 at ``path``: what the plugin prints, from Python or C, lands there."""
    fd = os.open(path, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _empty_output() -> None:
    _flush_output()
    os.ftruncate(1, 0)
    os.lseek(1, 0, os.SEEK_SET)                       # fds 1 and 2 share this offset


def _serve(conn, registry_name: str, output_path: str, parent_pid: int, wrap=None) -> None:
    worker_setup(parent_pid)
    _capture_output(output_path)
    from threadpoolctl import threadpool_limits

    from . import registry

    threadpool_limits(1)
    try:
        plugin = registry.load(registry_name)
    except Exception as exc:
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        return
    prepare_library(plugin)   # its declared settings, then its import: not charged to the memory limit
    if wrap is not None:      # e.g. an output mutant of the plugin (selftest --impl)
        plugin = wrap(plugin)
    from .environment import threads

    conn.send(("ready", threads()))   # the threads its cases run with (the plugin's setup may have set them)
    while True:
        request = conn.recv()
        if request is None:
            return
        descriptor, arrays, backward = request
        _empty_output()
        try:
            done = execute(plugin, ConvSpec.parse(descriptor), CaseArrays(*arrays), backward)
        except KeyboardInterrupt:                     # Ctrl-C is ignored here: the plugin raised it
            done = Execution(error_kind=RAISED, error="KeyboardInterrupt raised by the plugin\n"
                             + "".join(traceback.format_exc(limit=-3)))
        _flush_output()
        try:
            payload = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            payload = pickle.dumps(Execution(error_kind=RAISED, error=f"outputs cannot be sent back: {exc!r}"))
        conn.send_bytes(payload)


def prepare_library(plugin) -> None:
    """Apply the plugin's declared ``environment`` (``TF_ENABLE_ONEDNN_OPTS``, cache settings, ...)
    and then let it import its library (``setup``), so that both precede the first case and the
    library's start-up address space is not charged to the per-case memory limit. A failing
    ``setup`` is left for the first case to report, with its traceback."""
    from .plugin import apply_environment

    apply_environment(plugin)
    try:
        plugin.setup()
    except Exception:
        pass


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker closed its pipe but did not exit"
    if exitcode < 0:
        return f"the worker was killed by signal {signal.Signals(-exitcode).name}"
    return f"the worker exited with code {exitcode} (the plugin ended the process: os._exit or sys.exit)"


def _output_tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - OUTPUT_TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    if not tail.strip():
        return ""
    cut = f"last {OUTPUT_TAIL_BYTES} of {size} bytes" if size > OUTPUT_TAIL_BYTES else f"{size} bytes"
    return f"\nplugin output ({cut}):\n{tail.rstrip()}"


def _oracle_seconds(spec: ConvSpec, arrays: CaseArrays) -> float:
    from .oracles import torch_oracle

    a = arrays.as_float64()
    start = time.perf_counter()
    torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    return time.perf_counter() - start


class IsolatedExecutor:
    """Callable ``(spec, arrays, backward) -> Execution`` backed by a restartable worker.

    ``timeout``: seconds per case, or None for the default derived from the oracle's time.
    ``wrap``: a picklable callable the worker applies to the plugin it loaded, after the plugin's
    settings and library are in place (selftest's output mutants wrap it so)."""

    def __init__(self, registry_name: str, *, timeout: float | None = None,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT, wrap=None):
        self.registry_name, self.timeout, self.memory_limit = registry_name, timeout, memory_limit
        self.wrap = wrap
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._conn = None
        self.memory_ceiling = None          # resident bytes at which the running worker is killed (None: no limit)
        self.memory_at_start = None         # resident bytes of the running worker when it was ready
        self.cases_in_worker = 0            # cases sent to the running worker, this one included
        self.threads = None                 # environment.threads() of the worker once ready (None: none started)
        handle, self._output_path = tempfile.mkstemp(prefix="conv-oracle-output-", suffix=".txt")
        os.close(handle)

    def case_timeout(self, spec: ConvSpec, arrays: CaseArrays) -> tuple[float, str]:
        """(seconds, how they were chosen) for one case."""
        if self.timeout is not None:
            return self.timeout, f"{self.timeout:g} s"
        if spec.macs <= CHEAP_MACS:
            return DEFAULT_TIMEOUT_FLOOR_S, f"{DEFAULT_TIMEOUT_FLOOR_S:g} s (the default timeout's floor)"
        oracle = _oracle_seconds(spec, arrays)
        seconds = max(DEFAULT_TIMEOUT_FLOOR_S, ORACLE_TIME_FACTOR * oracle)
        return seconds, (f"{seconds:.3g} s (the default: {ORACLE_TIME_FACTOR} x the torch oracle's "
                         f"{oracle * 1e3:.3g} ms on this case, at least {DEFAULT_TIMEOUT_FLOOR_S:g} s)")

    def _start(self) -> str:
        """Start a worker; '' once it has loaded the plugin, else why it could not."""
        conn, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.registry_name, self._output_path, os.getpid(), self.wrap),
            daemon=True, name=f"conv-oracle-{self.registry_name}")
        try:
            with sigint_ignored():
                process.start()
        finally:
            child.close()
        self._process, self._conn = process, conn
        try:
            if not self._conn.poll(START_TIMEOUT_S):
                self._stop()
                return f"the worker did not load the plugin within {START_TIMEOUT_S:g} s; it was killed"
            state, detail = self._conn.recv()
        except (EOFError, ConnectionError, OSError):
            return "the worker died while loading the plugin: " + _death(self._stop(EXIT_GRACE_S))
        if state != "ready":
            self._stop(EXIT_GRACE_S)
            return f"the worker could not load the plugin: {detail}"
        self.threads = detail
        self.memory_at_start = resident_bytes(process.pid) or 0
        self.memory_ceiling = self.memory_at_start + self.memory_limit if self.memory_limit else None
        self.cases_in_worker = 0
        return ""

    def worker_threads(self) -> dict | None:
        """:func:`conv_oracle.environment.threads` of the worker its cases run in (one is started
        when none runs); None when none can start."""
        if self._process is None or not self._process.is_alive():
            self._stop()
            if self._start():
                return None
        return self.threads

    def restart(self) -> None:
        """Stop the worker now: the next case runs in a fresh one (nothing before it in its history)."""
        self._stop()

    def _history(self) -> str:
        """Where the failing case stood in its worker's life: a fault that needs a long history
        (a leak, a cache) shows only after the cases that built it."""
        n = self.cases_in_worker
        return "" if n <= 1 else f" [the worker's case {n} since it started]"

    def _limit_text(self) -> str:
        return (f"a limit of {self.memory_limit / 2**30:.2f} GiB added to the "
                f"{(self.memory_at_start or 0) / 2**30:.2f} GiB it held after start-up")


    def _memory_note(self) -> str:
        """How much memory a worker about to be killed held: a slow allocation looks like a hang."""
        resident = resident_bytes(self._process.pid)
        if resident is None:
            return ""
        return f" (it held {resident / 2**30:.2f} GiB resident" + (
            f", under {self._limit_text()})" if self.memory_limit else ")")

    def _stop(self, grace: float = 0.0) -> int | None:
        """Stop the worker (after ``grace`` seconds to exit by itself); its exit code."""
        if self._process is None:
            return None
        started = descendants(self._process.pid)      # listed while the worker lives: then they are its
        self._process.join(grace)
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        kill_descendants(started)
        code = self._process.exitcode
        self._conn.close()
        self._process = self._conn = None
        return code

    def __call__(self, spec: ConvSpec, arrays: CaseArrays, backward: bool) -> Execution:
        timeout, chosen = self.case_timeout(spec, arrays)
        if self._process is None or not self._process.is_alive():
            self._stop()
            failed = self._start()
            if failed:
                return Execution(error_kind=CRASHED, error=failed + _output_tail(self._output_path))
        self.cases_in_worker += 1
        try:
            self._conn.send((spec.descriptor(), (arrays.x, arrays.w, arrays.b, arrays.gy), backward))
            stop, held = watch(self._conn.poll, self._process.pid, timeout, self.memory_ceiling)
            if stop == MEMORY:
                history = self._history()
                self._stop()
                return Execution(error_kind=MEMORY, error=f"the worker held {held / 2**30:.2f} GiB resident, over "
                                 f"{self._limit_text()}; it was killed{history}" + _output_tail(self._output_path))
            if stop == HANG:
                memory, history = self._memory_note(), self._history()
                self._stop()
                return Execution(error_kind=HANG, error=f"no answer within {chosen}; the worker was killed{memory}"
                                 f"{history}" + _output_tail(self._output_path))
            done = pickle.loads(self._conn.recv_bytes())
        except (EOFError, ConnectionError, OSError):
            history = self._history()
            return Execution(error_kind=CRASHED, error=_death(self._stop(EXIT_GRACE_S)) + history
                             + _output_tail(self._output_path))
        if done.error_kind and done.error_kind != "not-supported":
            done.error += _output_tail(self._output_path)
        return done

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker: politely (up to 5 s) when ``wait``, at once otherwise."""
        if wait and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(timeout=5)
            except (ConnectionError, OSError):
                pass
        self._stop()
        try:
            os.unlink(self._output_path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(wait=exc_type is None)      # interrupted or failing: do not wait on a busy plugin


@contextlib.contextmanager
def executor_for(plugin, *, trusted: bool = False, timeout: float | None = None,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
    """The executor a campaign runs ``plugin`` with: an isolated worker, or None (in process)
    when ``trusted``."""
    if trusted:
        yield None
        return
    with IsolatedExecutor(getattr(plugin, "registry_name", plugin.name), timeout=timeout,
                          memory_limit=memory_limit) as executor:
        yield executor


# ---- the in-process path under a supervising parent ---------------------------------------------
def supervise(argv: list[str]) -> int:
    """Run ``conv-oracle argv`` (a ``--trusted`` run, the plugin in that process) in a child,
    and fail when the child ends without saying that it reached its end: a plugin calling
    ``os._exit(0)`` must not make the run pass with no summary."""
    from .config import SUMMARY_FD

    read, write = os.pipe()
    parent = os.getpid()
    child = subprocess.Popen([sys.executable, "-m", "conv_oracle", *argv], pass_fds=(write,),
                             env=dict(os.environ, **{SUMMARY_FD: str(write)}),
                             preexec_fn=lambda: die_with_parent(parent))
    os.close(write)
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:     # the child got the same Ctrl-C and reports it
            continue
    with os.fdopen(read, "rb") as ended:
        reached_end = bool(ended.read())
    if reached_end:
        return code
    how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    print(f"conv-oracle: error: the run ended ({how}) before its summary: with --trusted the plugin runs in "
          "the harness's process and ended it; run without --trusted to contain the plugin", file=sys.stderr)
    return 1


def report_end() -> None:
    """In a supervised run: tell the supervisor that the command reached its end."""
    from .config import summary_fd

    fd = summary_fd()
    if fd is not None:
        try:
            os.write(fd, b"end\n")
            os.close(fd)
        except OSError:
            pass
