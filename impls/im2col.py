"""im2col + GEMM forward and col2im backward (Chellapilla, Puri & Simard, 2006).

Forward. The padded input is viewed, without copying, as its receptive-field windows
(a strided view: ``xp[n, c, i*sh + kh*dh, j*sw + kw*dw]``), the view is copied once into
a columns matrix, and each group is a single GEMM::

    xp    : (nb, C, Hp, Wp)                   padded input of a batch chunk
    view  : (nb, C, KH, KW, Ho, Wo)           as_strided, no copy
    cols  : (nb, G, Cg*KH*KW + 1, Ho*Wo)      the only large copy; the last row of each
                                              group is ones when it carries the bias
    y     : (nb, G, Fg, Ho*Wo) = [w | b] (G, Fg, Cg*KH*KW + 1) @ cols

The column layout keeps both GEMM operands contiguous and writes the product straight into
the NCHW output (no transpose afterwards); the copy into ``cols`` reads and writes whole
output rows. A pointwise conv (1x1, stride 1, no padding) uses x itself as its columns.

Backward, with the same columns (without the ones rows):

* dw: ``gy (nb, G, Fg, P) @ cols^T (nb, G, P, K)`` (one GEMM per group and sample, the
  transposed operand is a view), then added into dw one sample at a time;
* db: a reduction of gy over N, Ho, Wo;
* dx: ``dcols = w^T (G, K, Fg) @ gy (nb, G, Fg, P)``, then col2im: for each of the KH*KW
  taps, a strided scatter-add of that tap's plane into the padded-input gradient, and a
  final crop of the padding. Rows and columns that no window reaches (stride not dividing
  the size, or padding larger than the effective kernel minus 1) keep their zero.

Every output element is a direct sum of its K products (GEMM in some order, then the taps
added in turn; the bias is one more term), so the gamma_K bound of :class:`DirectSum`
applies and integer-valued data come out exact.

bfloat16 and float16 run in float32, as every mainstream library does: the copy into the
columns widens x (exactly), the weights, bias and gy are widened once, every GEMM and sum is
float32 (bf16/f16 products are exact in it), the bias is added before the output is rounded,
and each output is rounded to the storage dtype once, at the end (``DirectSum``'s default).

Speed. The batch is cut into chunks (one sample each unless a budget says otherwise) and
``threads`` workers copy and multiply chunks with BLAS held to one thread, each taking the
next chunk when it is free: numpy releases the GIL in the strided copy and in the GEMM, so
the copy runs in parallel too, the columns of a chunk are still in cache when the GEMM reads
them, and a core taken by another process delays one worker (which then takes fewer chunks)
instead of stalling a multi-threaded GEMM at its barrier. BLAS stays at one thread with one
worker too: OpenBLAS splits a threaded GEMM differently and rounds differently.
Each worker is bound to its own CPU (:func:`_bind_to`). Measured on the 2-core AMD EPYC,
OpenBLAS 0.3.31 Haswell kernel (the only AVX2 kernel this CPU offers: ``OPENBLAS_CORETYPE``
unset and ``=Haswell`` pick it alike), with ``conv-oracle bench`` (torch, JAX and an n=2048
GEMM of the layer's dtype timed in the same interleaved rounds; medians of 9 warm calls),
2026-11-27:

* one core (``--single-core``, the ratio to trust on this time-shared machine), float32,
  layers a-d: 76-79 % (a), 84 % (b), 82-85 % (c), 78-82 % (d) of the same rounds' sgemm rate
  (torch's oneDNN: 95-98 %, 71 % on d). float64 time / torch's: a 0.44, b 0.56, c 0.83-0.89,
  d 0.58, e 0.40. On layer c im2col runs at 88-92 % of the dgemm rate and torch at 77 %, so
  being 1.5x faster than torch there would take 115 % of the dgemm rate.
* two cores: 60-70 % (a), 67-69 % (b), 70-76 % (c), 54-61 % (d) of the same rounds' sgemm
  rate (torch: 89-97 %, 68 % on d); float64 / torch: a 0.44-0.47, b 0.61, c 0.76-0.82 (torch
  at 69 % of the dgemm rate: 1.5x would take 103 %), d 0.87-1.13, e 0.59-0.66. Scaling from
  one core to two is 1.5-1.7x (torch: 1.85x): the workers' GEMMs scale 1.8x, their copies
  1.35x (they share L3 and memory bandwidth). The first call after an idle gap is slower
  still, for every library; the bench times warm calls.
* layer d in float64 writes a 51 MB output: the kernel's zeroing of its fresh pages (with
  numpy's transparent huge pages) is 6 ms of its 28 ms on one core, as for torch.
* binding the workers: unbound, the scheduler often woke both on the CPU of the thread that
  woke them (layer d, 2 threads: 13.3 ms median, 7.7 min; bound: 8.1 ms median).
* tried, no gain: a whole-batch 2-thread GEMM (faster under load, but OpenBLAS's bits then
  depend on the batch size and thread count, so a budget would change the results); one
  2-thread GEMM per sample with a 2-thread copy (equal within noise); row blocks of 1-4 MB on
  two cores (within the +-7 % noise of identical runs); the product as ``cols^T @ w^T`` (70
  vs 78 GFLOP/s on layer a's shapes); K = 576 with a separate bias pass instead of 577; output-row blocks that keep the columns
  in L2 (one core: 2 MB blocks 3 %, 1 MB 7 % slower); columns over the padded width (rows
  become contiguous runs, the copy is 2x faster, but the GEMM is Wp/Wo wider and y needs a
  crop: equal on one core, 5 % slower on two); one 2-thread GEMM on (K, N*P) columns (layer
  a: 13.0 ms for the GEMM alone, before the copy and the transpose to NCHW); tensordot
  (copies its operands, 33.7 vs 17.7 ms on layer a under load).

Memory. The extra memory is the columns of one chunk per worker, (Cg*KH*KW [+1])*G*Ho*Wo
elements per sample (about KH*KW/(sh*sw) times the input), plus a padded copy of the chunk
(:func:`peak_extra_bytes`). With ``max_column_bytes`` all the columns alive at once stay
within the budget (never less than one sample). The results are bit-for-bit the same for
any budget and any number of threads, because every GEMM is per sample with the same
shapes, and the dw sum runs over the samples in order.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided

from conv_oracle import Capabilities, ConvPlugin, ConvSpec, DirectSum

def _accumulator(dtype) -> np.dtype:
    """float32 for bfloat16/float16 storage, else the dtype itself."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def _item(spec: ConvSpec) -> int:
    """Bytes of one element of the columns, GEMM products and accumulators."""
    return _accumulator(spec.dtype).itemsize


def _pointwise(spec: ConvSpec) -> bool:
    """1x1, stride 1, no padding: the input itself is a valid columns matrix."""
    return (spec.kh == spec.kw == 1 and spec.stride == (1, 1)
            and spec.padding == ((0, 0), (0, 0)))


def _folds_bias(spec: ConvSpec) -> bool:
    """The forward carries the bias in the GEMM, as a row of ones in the columns of each group
    and a column b in the weights (K+1 terms of one direct sum; no extra pass over y).
    Not for a pointwise conv with C >= F: its columns are x itself, uncopied, and one pass
    over y then costs less than copying x."""
    return spec.bias and not (_pointwise(spec) and spec.c >= spec.f)


def column_bytes(spec: ConvSpec, samples: int | None = None) -> int:
    """Bytes of the forward's columns matrix for ``samples`` samples (default: the whole
    batch): C*KH*KW rows of Ho*Wo, plus one row of ones per group when it carries the bias."""
    ho, wo = spec.out_hw
    rows = spec.c * spec.kh * spec.kw + (spec.groups if _folds_bias(spec) else 0)
    return rows * ho * wo * _item(spec) * (spec.n if samples is None else samples)


def plan(spec: ConvSpec, max_column_bytes: int | None = None, threads: int = 1) -> tuple[int, int]:
    """(workers, samples per chunk). Every worker holds one chunk's columns at a time, so
    ``workers * samples * column_bytes(spec, 1) <= max_column_bytes`` whenever the budget
    allows one sample at all (below that: one worker, one sample). Without a budget: one
    sample per chunk (its columns stay in cache between the copy and the GEMM, and the
    workers stay balanced); a budget as large as the whole batch's columns with one thread
    gives the textbook form, one columns matrix for the whole batch."""
    per_sample = column_bytes(spec, 1)
    workers = max(1, min(threads, spec.n))
    if max_column_bytes is None:
        return workers, 1
    workers = max(1, min(workers, max_column_bytes // per_sample))
    return workers, max(1, min(-(-spec.n // workers), max_column_bytes // (workers * per_sample)))


#: Largest columns block of one worker in the forward when no budget says less: a sample
#: whose columns exceed it (layers f, g: 63 MB, 1 GB) is cut into blocks of output rows,
#: which also keeps both workers busy when N = 1.
ROW_BLOCK_BYTES = 16 << 20


def forward_plan(spec: ConvSpec, max_column_bytes: int | None = None,
                 threads: int = 1) -> tuple[int, int, int]:
    """(workers, samples per chunk, output rows per block) of the forward.

    The GEMMs are per sample, or, for a sample whose columns exceed ``ROW_BLOCK_BYTES``,
    per block of output rows sized by that constant alone: the budget and the threads only
    decide how many such units are in flight, so results are the same bits for every
    budget of at least one unit. A budget below one unit gets smaller row blocks (at least
    one row); their GEMMs are narrower and may round differently, within the same bound."""
    ho = spec.out_hw[0]
    per_sample = column_bytes(spec, 1)
    per_row = per_sample // ho
    rows = ho if per_sample <= ROW_BLOCK_BYTES else max(1, ROW_BLOCK_BYTES // per_row)
    if rows == ho and (max_column_bytes is None or max_column_bytes >= per_sample):
        workers, nb = plan(spec, max_column_bytes, threads)
        return workers, nb, ho
    units = spec.n * -(-ho // rows)
    workers = max(1, min(threads, units))
    if max_column_bytes is not None:
        workers = max(1, min(workers, max_column_bytes // (per_row * rows)))
        if max_column_bytes < per_row * rows:       # below one unit: narrower blocks
            rows, workers = max(1, min(rows, max_column_bytes // per_row)), 1
    return min(workers, spec.n * -(-ho // rows)), 1, rows


def peak_extra_bytes(spec: ConvSpec, max_column_bytes: int | None = None, *, threads: int = 1,
                     backward: bool = False) -> int:
    """Declared peak memory beyond the inputs and the outputs, in bytes.

    Forward: per worker, the columns of one chunk plus the padded copy of that chunk's
    input (alive together while the columns are copied; neither exists for a pointwise
    conv). Backward adds, per worker, the padded-input gradient of a chunk and one
    dw-sized product per sample, plus the dw accumulator. bfloat16/float16 add their float32
    copies: y (forward); gy, dx and the padded-input gradients (backward)."""
    item, acc_item = np.dtype(spec.dtype).itemsize, _item(spec)
    widened = acc_item != item                   # bf16/f16: columns, GEMMs and sums in float32
    (pt, pb), (pl, pr) = spec.padding
    pads = bool(pt or pb or pl or pr)
    w_elements = spec.f * (spec.c // spec.groups) * spec.kh * spec.kw
    copies = 0
    if not backward:
        workers, nb, rows = forward_plan(spec, max_column_bytes, threads)
        ho = spec.out_hw[0]
        if widened:                              # y and the weights in float32
            copies = (_prod(spec.y_shape) + w_elements + spec.f) * acc_item
        elif _pointwise(spec) and not _folds_bias(spec):
            return 0
        block = column_bytes(spec, nb) // ho * rows
        in_rows = min(spec.h + pt + pb, (rows - 1) * spec.stride[0] + (spec.kh - 1) * spec.dilation[0] + 1)
        padded = nb * spec.c * in_rows * (spec.w + pl + pr) * item
        return workers * (block + (padded if pads else 0)) + copies
    workers, nb = plan(spec, max_column_bytes, threads)
    padded = nb * spec.c * (spec.h + pt + pb) * (spec.w + pl + pr) * item       # padded x, storage dtype
    grad_padded = padded // item * acc_item                                      # its gradient, accumulator
    if _pointwise(spec):   # no copy of x; a buffer for dcols
        per_worker = column_bytes(spec, nb)
    else:
        per_worker = column_bytes(spec, nb) + (padded if pads else 0)
    w_bytes = w_elements * acc_item
    if widened:                                  # gy, dx and the weights in float32
        copies = (_prod(spec.y_shape) + _prod(spec.x_shape) + w_elements) * acc_item
    return workers * (per_worker + grad_padded + nb * w_bytes) + w_bytes + copies


def _prod(shape) -> int:
    out = 1
    for v in shape:
        out *= v
    return out


def forward_weights(w: np.ndarray, b: np.ndarray | None, spec: ConvSpec) -> np.ndarray:
    """The forward GEMM's left operand, (G, Fg, Cg*KH*KW), with b as a last column
    (G, Fg, Cg*KH*KW + 1) when the forward folds the bias into the GEMM."""
    g = spec.groups
    wm = w.reshape(g, spec.f // g, -1)
    if b is not None and _folds_bias(spec):
        wm = np.concatenate([wm, b.reshape(g, spec.f // g, 1)], axis=2)
    return wm


def _padded(x: np.ndarray, spec: ConvSpec, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Zero-padded copy (or ``x`` itself when there is no padding); with ``rows=(a, b)``
    only rows a..b-1 of the padded input."""
    (pt, pb), (pl, pr) = spec.padding
    n, c, h, w = x.shape
    a, b = rows or (0, h + pt + pb)
    if not (pt or pb or pl or pr):
        return x[:, :, a:b]
    xp = np.zeros((n, c, b - a, w + pl + pr), dtype=x.dtype)
    lo, hi = max(a, pt), min(b, pt + h)                       # padded rows that hold input
    if lo < hi:
        xp[:, :, lo - a:hi - a, pl:pl + w] = x[:, :, lo - pt:hi - pt]
    return xp


def _windows(xp: np.ndarray, spec: ConvSpec, ho: int | None = None) -> np.ndarray:
    """Read-only strided view (n, C, KH, KW, Ho, Wo) of the windows of a padded input
    (of its first ``ho`` output rows)."""
    ho = spec.out_hw[0] if ho is None else ho
    wo = spec.out_hw[1]
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(xp.shape[0], xp.shape[1], spec.kh, spec.kw, ho, wo),
                      strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False)


def _columns(x: np.ndarray, spec: ConvSpec, out: np.ndarray | None, ones: bool = False,
             rows: tuple[int, int] | None = None) -> np.ndarray:
    """The columns of x (a chunk of samples), (nb, G, Cg*KH*KW [+1], Ho*Wo), or of output
    rows r0..r1-1 only: a view of x itself for a pointwise conv without ``ones`` (then it
    must not be written to), otherwise copied into ``out`` from the strided window view,
    with a last row of ones per group if ``ones``."""
    r0, r1 = rows or (0, spec.out_hw[0])
    ho, wo = r1 - r0, spec.out_hw[1]
    nb, g, cg = x.shape[0], spec.groups, spec.c // spec.groups
    kg = cg * spec.kh * spec.kw
    if _pointwise(spec) and not ones and (out is None or out.dtype == x.dtype):
        return x[:, :, r0:r1].reshape(nb, g, cg, ho * wo)
    sh, dh = spec.stride[0], spec.dilation[0]
    xp = _padded(x, spec, (r0 * sh, (r1 - 1) * sh + (spec.kh - 1) * dh + 1))
    nrows = kg + ones
    cols = out[:nb * g * nrows * ho * wo].reshape(nb, g, nrows, ho * wo)
    target = np.reshape(cols[:, :, :kg], (nb, g, cg, spec.kh, spec.kw, ho, wo), copy=False)
    np.copyto(target, _windows(xp, spec, ho).reshape(target.shape))
    if ones:
        cols[:, :, kg] = 1
    return cols


# ---- the pipeline: `workers` threads, each copying and multiplying its own chunks ------------
# numpy releases the GIL in both the strided copy and the GEMM, so with BLAS itself held to
# one thread each core runs copy + GEMM on its own chunk: the copy is parallel too, and a
# core lost to another process delays one worker instead of stalling a BLAS barrier.
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas = None


def _numpy_blas():
    """threadpoolctl controller of numpy's own BLAS (None when it cannot be found)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            mine = [lib for lib in libs if "numpy" in (lib.filepath or "")]
            _blas = mine[0] if mine else False
        except Exception:  # threadpoolctl missing or unusable: no pipeline
            _blas = False
    return _blas or None


def _default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_bound = threading.local()


def _bind_to(cpu: int) -> None:
    """Keep the calling worker thread on one CPU (Linux: affinity is per thread). Unbound, the
    scheduler often wakes both workers on the CPU of the thread that woke them and moves one
    only later: on 2 cores layer d then took 13.3 ms median (its minimum 7.7) against 8.1 ms
    bound, which is what OpenMP's OMP_PROC_BIND does for torch's own threads."""
    if getattr(_bound, "cpu", None) == cpu:
        return
    try:
        os.sched_setaffinity(0, {cpu})
        _bound.cpu = cpu
    except (AttributeError, OSError):  # no affinity on this platform, or the CPU was taken away
        _bound.cpu = None


def _run(workers: int, chunks: list[tuple], job) -> None:
    """job(worker, *chunk) for every chunk, in order: each worker takes the next chunk not yet
    taken when it is free, so a core slowed by another process does fewer chunks (a chunk's
    result does not depend on which worker computes it). BLAS is held to one thread even
    with one worker: a multi-threaded OpenBLAS GEMM splits its work differently and rounds
    differently, and the results must be the same bits for every number of threads."""
    global _pool
    blas = _numpy_blas()
    with _pool_lock:  # one call at a time: BLAS threads are process-wide
        before = blas.num_threads if blas else None
        if blas:
            blas.set_num_threads(1)
        try:
            if workers == 1:
                with np.errstate(all="ignore"):  # NaN/Inf inputs propagate silently, as in torch
                    for chunk in chunks:
                        job(0, *chunk)
                return
            if _pool is None or _pool._max_workers < workers:
                _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="im2col")
            queue = iter(chunks)
            take = threading.Lock()
            cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

            def lane(t):
                if len(cpus) > 1:  # worker t on the t-th CPU this process may use
                    _bind_to(cpus[t % len(cpus)])
                with np.errstate(all="ignore"):  # per thread: NaN/Inf propagate silently
                    while True:
                        with take:
                            chunk = next(queue, None)
                        if chunk is None:
                            return
                        job(t, *chunk)
            for f in [_pool.submit(lane, t) for t in range(workers)]:
                f.result()
        finally:
            if blas:
                blas.set_num_threads(before)


class Im2colConv(ConvPlugin):
    name = "im2col"
    description = "vectorised im2col (strided view) + one GEMM per group; col2im scatter-add backward"
    capabilities = Capabilities(
        dtypes=("bfloat16", "float16", "float32", "float64"),
        notes="extra memory: columns KH*KW*C*Ho*Wo per sample (about KH*KW/(sh*sw) x input), one "
              "chunk per worker; max_column_bytes bounds it without changing results",
    )
    error_model = DirectSum(accumulate=None, bias="before")   # None: float32 for bf16/f16, else the dtype
    backward_method = "dw: GEMM per group and sample; dx: GEMM then col2im scatter-add over kernel taps"

    #: Byte budget for all columns alive at once; None: no budget.
    max_column_bytes: int | None = None
    #: Worker threads (each with single-threaded BLAS); None: the CPUs this process may use.
    threads: int | None = None

    def __init__(self, max_column_bytes: int | None = None, threads: int | None = None):
        if max_column_bytes is not None:
            if not isinstance(max_column_bytes, int) or isinstance(max_column_bytes, bool) or max_column_bytes < 1:
                raise ValueError(f"max_column_bytes={max_column_bytes!r}: give a positive number of bytes or None")
            self.max_column_bytes = max_column_bytes
        if threads is not None:
            if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
                raise ValueError(f"threads={threads!r}: give a positive number of threads or None")
            self.threads = threads

    def _threads(self) -> int:
        threads = self.threads or _default_threads()
        return threads if threads == 1 or _numpy_blas() else 1

    def plan(self, spec: ConvSpec, *, backward: bool = False) -> tuple[int, int, int]:
        """(workers, samples per chunk, output rows per block) for ``spec``."""
        if backward:
            return (*plan(spec, self.max_column_bytes, self._threads()), spec.out_hw[0])
        return forward_plan(spec, self.max_column_bytes, self._threads())

    def peak_extra_bytes(self, spec: ConvSpec, *, backward: bool = False) -> int:
        """Declared peak extra memory of one call (see :func:`peak_extra_bytes`)."""
        return peak_extra_bytes(spec, self.max_column_bytes, threads=self._threads(), backward=backward)

    def _setup(self, spec: ConvSpec, buffers: bool = True):
        """(workers, samples per chunk, chunks, one column buffer per worker or None)."""
        workers, nb, _ = self.plan(spec, backward=True)
        chunks = [(n0, min(spec.n, n0 + nb)) for n0 in range(0, spec.n, nb)]
        size = column_bytes(spec, nb) // _item(spec)
        return workers, nb, chunks, [np.empty(size, dtype=_accumulator(spec.dtype)) if buffers else None
                                     for _ in range(workers)]

    # ---- forward ------------------------------------------------------------------------
    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        g, fg = spec.groups, spec.f // spec.groups
        ho, wo = spec.out_hw
        fold = b is not None and _folds_bias(spec)
        acc = _accumulator(x.dtype)
        b = None if b is None else b.astype(acc, copy=False)
        wm = forward_weights(w, b, spec).astype(acc, copy=False)  # (G, Fg, Cg*KH*KW [+1])
        y = np.empty(spec.y_shape, dtype=acc)                      # (N, F, Ho, Wo)
        workers, nb, rb = forward_plan(spec, self.max_column_bytes, self._threads())
        chunks = [(n0, min(spec.n, n0 + nb), r0, min(ho, r0 + rb))
                  for n0 in range(0, spec.n, nb) for r0 in range(0, ho, rb)]
        size = column_bytes(spec, nb) // ho * rb // y.itemsize
        bufs = [np.empty(size, dtype=y.dtype) if fold or not _pointwise(spec) or acc != x.dtype else None
                for _ in range(workers)]

        def job(t, n0, n1, r0, r1):
            cols = _columns(x[n0:n1], spec, bufs[t], fold, (r0, r1))  # (nb, G, K [+1], rows*Wo)
            out = np.reshape(y[n0:n1, :, r0:r1], (n1 - n0, g, fg, (r1 - r0) * wo), copy=False)
            np.matmul(wm, cols, out=out)                          # (nb, G, Fg, rows*Wo)
            if b is not None and not fold:
                y[n0:n1, :, r0:r1] += b[:, None, None]

        _run(workers, chunks, job)
        return y.astype(x.dtype, copy=False)                       # bf16/f16: the one rounding

    # ---- backward -----------------------------------------------------------------------
    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        g, fg, cg = spec.groups, spec.f // spec.groups, spec.c // spec.groups
        ho, wo = spec.out_hw
        (sh, sw), (dh, dw_) = spec.stride, spec.dilation
        (pt, pb), (pl, pr) = spec.padding
        hp, wp = spec.h + pt + pb, spec.w + pl + pr
        acc = _accumulator(x.dtype)
        gy = gy.astype(acc, copy=False)
        wm = w.reshape(g, fg, -1).astype(acc, copy=False)          # (G, Fg, K)
        wt = wm.transpose(0, 2, 1)                                 # (G, K, Fg), a view
        dw = np.zeros((g, fg, cg * spec.kh * spec.kw), dtype=acc)
        dx = np.empty(spec.x_shape, dtype=acc)
        workers, nb, chunks, bufs = self._setup(spec)
        dxps = [np.empty((nb, spec.c, hp, wp), dtype=acc) for _ in range(workers)]
        # dw is summed over samples in sample order whatever the chunking: chunk i adds its
        # products once chunk i-1 has added its own.
        added = [threading.Event() for _ in chunks]

        def job(t, n0, n1):
            m, i = n1 - n0, n0 // nb
            try:
                gyc = gy[n0:n1].reshape(m, g, fg, ho * wo)         # (m, G, Fg, P)
                cols = _columns(x[n0:n1], spec, bufs[t])           # (m, G, K, P)
                parts = np.matmul(gyc, cols.transpose(0, 1, 3, 2))  # (m, G, Fg, K)
                if i:
                    added[i - 1].wait()
                for part in parts:
                    np.add(dw, part, out=dw)
                added[i].set()
                dcols_buf = bufs[t][:cols.size].reshape(cols.shape)  # not x itself (pointwise)
                dcols = np.matmul(wt, gyc, out=dcols_buf)          # (m, G, K, P)
                dcols = dcols.reshape(m, spec.c, spec.kh, spec.kw, ho, wo)
                dxc = dxps[t][:m]
                dxc.fill(0)
                for kh in range(spec.kh):                          # col2im: one scatter-add per tap
                    rows = slice(kh * dh, kh * dh + sh * (ho - 1) + 1, sh)
                    for kw in range(spec.kw):
                        cols_ = slice(kw * dw_, kw * dw_ + sw * (wo - 1) + 1, sw)
                        dxc[:, :, rows, cols_] += dcols[:, :, kh, kw]
                dx[n0:n1] = dxc[:, :, pt:pt + spec.h, pl:pl + spec.w]  # crop the padding
            finally:
                added[i].set()  # never leave the next chunk waiting, even on an error

        _run(workers, chunks, job)
        with np.errstate(all="ignore"):
            db = gy.sum(axis=(0, 2, 3)) if b is not None else None
        store = x.dtype                                            # bf16/f16: one rounding each
        return (dx.astype(store, copy=False), dw.reshape(spec.w_shape).astype(store, copy=False),
                None if db is None else db.astype(store, copy=False))
