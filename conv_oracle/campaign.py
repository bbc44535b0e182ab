"""Fuzzing campaigns beyond one machine: shards of the ``check`` engine on a Dask cluster.

A :class:`Shard` is (implementation, profile, seed, dtype or spec-family filter, example count). A worker
runs it through the same engine as ``conv-oracle check`` and returns its case records. The
client (this process):

* starts an embedded ``LocalCluster`` (worker processes, one thread each, BLAS at one
  thread) or connects to an existing scheduler;
* refuses a cluster whose workers run another Hypothesis version than its own (the example
  database format changes between versions) and records each worker's environment;
* streams each finished shard's records into one JSONL file (``as_completed``), followed by
  a ``"record": "shard"`` line that marks it done; ``--resume FILE`` runs only the unmarked shards;
* deduplicates the failures by descriptor and replays each distinct one once, here, against
  the float64 oracle, before reporting it; then writes the merged conformance report.

A worker that dies takes only its running shard with it (its records were not returned yet):
the scheduler runs it again elsewhere, and ``retries`` re-runs a shard that raised. Every
shard's Hypothesis example database is the local directory database (profiles dev and
thorough) multiplexed with a shared ``RedisExampleDatabase`` (``--database redis://...``),
so a failure that one worker finds is replayed first by every other worker and by later
local runs. If Redis goes away mid-run, shards carry on with the local database.

Each worker runs its own JAX worker process for the cross-check (one per Dask worker,
started with its first shard and kept), or none with ``jax=False``; the plugin runs in an
isolated process per worker (``conv_oracle.isolation``) unless ``trusted``. Both need Dask
worker processes that may have children: the embedded cluster sets
``distributed.worker.daemon: False``, and workers of an existing cluster need the same.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property, lru_cache

from .isolation import DEFAULT_MEMORY_LIMIT

RETRIES = 2                       # re-runs of a shard that raised (a dead worker's shard is re-run anyway)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
REDIS_TIMEOUT_S = 3.0


class CampaignError(ValueError):
    """Bad input or an unusable cluster or database: one line, exit 2."""


class HypothesisVersionMismatch(RuntimeError):
    pass


@dataclass(frozen=True)
class Shard:
    """One unit of work: an engine run of one implementation with its own seed."""

    impl: str
    seed: int
    profile: str = "dev"
    examples: int | None = None          # None: the profile's count
    dtype: str | None = None             # None: every declared dtype
    spec_family: str | None = None       # realistic | boundary | adversarial (None: all, in the profile's shares)

    @property
    def key(self) -> str:
        return (f"{self.impl}/{self.profile}/{self.dtype or 'all-dtypes'}/{self.spec_family or 'all-families'}/"
                f"{self.examples or 'profile'}-examples/seed-{self.seed}")

    @property
    def family(self) -> tuple:
        """Shards that differ only by seed belong to one family."""
        return self.impl, self.profile, self.dtype, self.spec_family, self.examples


@dataclass(frozen=True)
class WorkerSettings:
    """What every shard of a campaign runs with (sent along with each shard)."""

    hypothesis: str                      # the client's version: a worker with another one refuses
    jax: bool = True
    trusted: bool = False
    timeout: float | None = None         # seconds per isolated case (None: derived from the oracle's time)
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    local_database: str | None = None    # directory database (None: the profile has none)
    shared_database: str | None = None   # redis://host:port/db


@dataclass
class ShardResult:
    """A finished shard: the engine's records (cases, then its failure and run records) and
    where it ran."""

    shard: Shard
    worker: str
    environment: dict
    database: str                        # which example databases the shard used
    database_lost: str | None = None     # why the shared database was lost mid-shard
    records: list[dict] = field(default_factory=list)

    @cached_property
    def summary(self):
        """The shard's CampaignSummary, rebuilt from its records."""
        from .engine import CampaignSummary, summary_from_records

        return summary_from_records(self.records).get(self.shard.impl) or CampaignSummary(self.shard.impl, "")

    @property
    def run_record(self) -> dict:
        return next((r for r in self.records if r.get("record") == "run"), {})

    def marker(self) -> dict:
        """The record that marks this shard done, after its case records: where it ran, and its
        own failure and run records (kept here, so that the JSONL file's top-level failure and
        run records are the merged ones the campaign appends at its end)."""
        summary = self.summary
        return {"record": "shard", "shard": asdict(self.shard), "key": self.shard.key, "worker": self.worker,
                "environment": self.environment, "database": self.database, "database_lost": self.database_lost,
                "cases": len(summary.results), "examples": summary.examples, "distinct_failures": len(summary.findings),
                "seconds": self.run_record.get("seconds"), "run": self.run_record,
                "failures": [r for r in self.records if r.get("record") == "failure"]}

    @property
    def case_records(self) -> list[dict]:
        return [r for r in self.records if r.get("record", "case") == "case"]

    @classmethod
    def from_marker(cls, marker: dict, case_records: list[dict]) -> ShardResult:
        records = [{k: v for k, v in r.items() if k != "shard"} for r in case_records]
        return cls(Shard(**marker["shard"]), marker["worker"], marker["environment"], marker["database"],
                   marker.get("database_lost"), records + marker["failures"] + [marker["run"]])


# ---- the plan ------------------------------------------------------------------------------------
def plan(impls: list[str], shards: int, *, profile: str = "dev", examples: int | None = None, seed: int = 0,
         dtypes: list[str] | None = None, families: list[str] | None = None) -> list[Shard]:
    """``shards`` shards per implementation (and dtype and spec-family filter), seeds ``seed,
    seed+1, ...``, interleaved so that every implementation starts early."""
    return [Shard(impl, seed + i, profile, examples, dtype, family)
            for i in range(shards) for impl in impls for dtype in (dtypes or [None]) for family in (families or [None])]


def next_shard(family_shards: list[Shard]) -> Shard:
    """The next shard of a family (a timed campaign): the seed after the largest one used."""
    last = max(family_shards, key=lambda s: s.seed)
    return replace(last, seed=last.seed + 1)


# ---- the example database ------------------------------------------------------------------------
def check_redis(url: str) -> None:
    """Raise CampaignError (one line) unless ``url`` names a Redis server that answers."""
    try:
        import redis
    except ImportError:
        raise CampaignError("--database needs redis-py: pip install 'conv-oracle[cluster]'") from None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise CampaignError(f"--database {url}: give a redis://host:port/db address")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S)
        client.ping()
        client.close()
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        raise CampaignError(f"cannot reach the example database {url}: {exc}") from None


def _shared_database_class():
    from hypothesis.database import ExampleDatabase

    class SharedDatabase(ExampleDatabase):
        """``RedisExampleDatabase`` until the server stops answering; from then on empty (reads
        nothing, keeps nothing), so that the multiplexed local database carries on alone.
        (Hypothesis would otherwise fail the shard on the first ConnectionError.)"""

        def __init__(self, url: str):
            super().__init__()
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase

            self.url, self.lost = url, None
            self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
            self._db = RedisExampleDatabase(redis.Redis.from_url(
                url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S))

        def _guarded(self, call, default=None):
            if self.lost is None:
                try:
                    return call()
                except self._errors as exc:
                    self.lost = f"{type(exc).__name__}: {exc}"
            return default

        def fetch(self, key):
            return iter(self._guarded(lambda: list(self._db.fetch(key)), []))

        def save(self, key, value):
            self._guarded(lambda: self._db.save(key, value))

        def delete(self, key, value):
            self._guarded(lambda: self._db.delete(key, value))

        def move(self, src, dest, value):
            self._guarded(lambda: self._db.move(src, dest, value))

    return SharedDatabase


def example_database(settings: WorkerSettings):
    """(database for the engine or None for the profile's, the shared part or None, description)."""
    from hypothesis.database import DirectoryBasedExampleDatabase, MultiplexedDatabase

    parts, shared = [], None
    if settings.local_database:
        parts.append(DirectoryBasedExampleDatabase(settings.local_database))
    if settings.shared_database:
        shared = _shared_database_class()(settings.shared_database)
        parts.append(shared)
    described = " + ".join(filter(None, [settings.local_database and f"local {settings.local_database}",
                                         settings.shared_database])) or "none"
    if not parts:
        return None, None, described
    return (parts[0] if len(parts) == 1 else MultiplexedDatabase(*parts)), shared, described


def local_database_path(profile: str) -> str | None:
    """The directory database of ``profile`` as an absolute path (None: the profile keeps none)."""
    from hypothesis import settings

    from . import profiles

    profiles.register()
    db = settings.get_profile(profile).database
    return os.path.abspath(db.path) if db is not None and hasattr(db, "path") else None


# ---- on a worker -----------------------------------------------------------------------------------
class _WorkerResources:
    """Per worker process, kept across shards: one JAX worker (or none) and one isolated
    executor per (plugin, limits); closed when the process exits."""

    def __init__(self):
        self.jax_worker = None
        self.executors = {}
        atexit.register(self.close)

    def jax(self):
        if self.jax_worker is None:
            from .oracles.worker import JaxWorker

            self.jax_worker = JaxWorker()
        return self.jax_worker

    def executor(self, impl: str, timeout: float, memory_limit: int):
        key = (impl, timeout, memory_limit)
        if key not in self.executors:
            from .isolation import IsolatedExecutor

            self.executors[key] = IsolatedExecutor(impl, timeout=timeout, memory_limit=memory_limit)
        return self.executors[key]

    def close(self):
        for executor in self.executors.values():
            executor.close()
        self.executors.clear()
        if self.jax_worker is not None:
            self.jax_worker.close()
            self.jax_worker = None


@lru_cache(maxsize=1)
def _resources() -> _WorkerResources:
    return _WorkerResources()


def _pin_plugin(cpus: list[int]):
    """A Dask WorkerPlugin for the embedded cluster: worker ``i`` (LocalCluster names them 0, 1,
    ...) keeps to CPU ``cpus[i % len(cpus)]``, and so does its JAX process. Unpinned, every
    worker would keep off the last CPU for its JAX process (``pin_away_from_worker``): all
    workers on one CPU, all JAX processes on another."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class PinToCpu(WorkerPlugin):
        name = "conv-oracle-campaign-pin"

        def setup(self, worker):
            if isinstance(worker.name, int):
                os.sched_setaffinity(0, {cpus[worker.name % len(cpus)]})

    return PinToCpu()


def _release_plugin():
    """A Dask WorkerPlugin that closes the worker's JAX process and isolated executors when
    the worker closes (Dask ends worker processes without running ``atexit``)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class ReleaseResources(WorkerPlugin):
        name = "conv-oracle-campaign-resources"

        def teardown(self, worker):
            _resources().close()

    return ReleaseResources()


def worker_environment(jax_settings: dict | None) -> dict:
    from . import environment

    env = environment.describe(jax_settings)
    env["pid"] = os.getpid()
    return env


def hypothesis_version() -> str:
    import hypothesis

    return hypothesis.__version__


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"local pid {os.getpid()}"


def run_shard(shard: Shard, settings: WorkerSettings) -> ShardResult:
    """Run one shard here (on a Dask worker) through the engine and return its records."""
    from hypothesis.errors import HypothesisDeprecationWarning

    from . import registry
    from .engine import run_campaign

    if hypothesis_version() != settings.hypothesis:
        raise HypothesisVersionMismatch(f"worker {_worker_address()} runs hypothesis {hypothesis_version()}, "
                                        f"the campaign {settings.hypothesis}")
    # Dask's own threads call the random module while Hypothesis draws in this one; Hypothesis
    # takes that for a strategy using random (the draws use their own generator, unaffected).
    warnings.filterwarnings("ignore", "Do not use the `random` module inside strategies", HypothesisDeprecationWarning)
    plugin = registry.load(shard.impl)
    database, shared, described = example_database(settings)
    resources = _resources()
    jax_worker = resources.jax() if settings.jax else None
    jax_settings = jax_worker.settings() if jax_worker is not None else None
    executor = None if settings.trusted else resources.executor(shard.impl, settings.timeout, settings.memory_limit)
    records: list[dict] = []
    run_campaign(plugin, profile=shard.profile, examples=shard.examples, seed=shard.seed, jax_worker=jax_worker,
                 executor=executor, database="profile" if database is None else database,
                 dtypes=(shard.dtype,) if shard.dtype else None,
                 families=(shard.spec_family,) if shard.spec_family else None,
                 on_result=lambda result: records.append(result.to_dict()), on_record=records.append)
    return ShardResult(shard, _worker_address(), worker_environment(jax_settings), described,
                       shared.lost if shared is not None else None, records)


# ---- the cluster -------------------------------------------------------------------------------------
@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: of the cluster at ``scheduler``, or of an embedded ``LocalCluster`` of
    ``workers`` processes (default: one per CPU this process may use), one thread each."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise CampaignError("a campaign needs Dask: pip install 'conv-oracle[cluster]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise CampaignError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise CampaignError(f"the Dask scheduler {scheduler} has no worker (waited 60 s)") from None
            yield client
        return
    count = workers or len(os.sched_getaffinity(0))
    with dask.config.set({"distributed.worker.daemon": False}), \
            LocalCluster(n_workers=count, processes=True, threads_per_worker=1, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                         env=dict(ONE_THREAD)) as cluster, \
            Client(cluster) as client:
        cpus = sorted(os.sched_getaffinity(0))
        if count > 1 and len(cpus) > 1:
            client.register_plugin(_pin_plugin(cpus))
        yield client


def check_versions(client) -> dict[str, str]:
    """{worker: Hypothesis version}; raises CampaignError if any differs from ours."""
    ours = hypothesis_version()
    versions = client.run(hypothesis_version)
    other = {w: v for w, v in versions.items() if v != ours}
    if other:
        listed = ", ".join(f"{w} has {v}" for w, v in sorted(other.items()))
        raise CampaignError(f"refusing workers whose Hypothesis version differs from this client's {ours} "
                            f"(the example database format changes between versions): {listed}")
    return versions


# ---- the log: one JSONL file of records, each finished shard's closed by its marker ---------------
class CampaignLog:
    """Appends a finished shard's records to the JSONL file, then the ``"record": "shard"`` line
    that marks it done, and flushes them to disk: a marker always follows all of its records."""

    def __init__(self, jsonl: str):
        os.makedirs(os.path.dirname(os.path.abspath(jsonl)), exist_ok=True)
        self.handle = open(jsonl, "a", encoding="utf-8")

    def write(self, result: ShardResult) -> None:
        for r in result.case_records:
            self.handle.write(json.dumps({**r, "shard": result.shard.key}, default=float) + "\n")
        self.write_records([result.marker()])

    def write_records(self, records: list[dict]) -> None:
        for r in records:
            self.handle.write(json.dumps(r, default=float) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def load_finished(jsonl: str) -> list[ShardResult]:
    """The shards an interrupted campaign finished, with their records; rewrites ``jsonl``
    without the records of shards that did not finish (a torn write, a shard in flight) and
    without the merged records a finished run appended (they are written again at the end)."""
    from .report import atomic_write
    from .stream import read

    try:
        records = read(jsonl)
    except FileNotFoundError:
        return []
    finished = {r["key"]: r for r in records if r.get("record") == "shard"}
    by_shard: dict[str, list[dict]] = {}
    for r in records:
        if r.get("record") != "shard" and r.get("shard") in finished:
            by_shard.setdefault(r["shard"], []).append(r)
    kept = [line for key, marker in finished.items() for line in by_shard.get(key, []) + [marker]]
    atomic_write(jsonl, "".join(json.dumps(r, default=float) + "\n" for r in kept))
    return [ShardResult.from_marker(m, by_shard.get(key, [])) for key, m in finished.items()]


# ---- the client side --------------------------------------------------------------------------------
@dataclass
class Replay:
    """A distinct failure (implementation, search, descriptor) and its replay on the client."""

    finding: object                # engine.Finding from the first shard (in shard order) that found it
    replayed: object = None        # CaseResult of the client's replay (torch float64 oracle)
    shards: list[str] = field(default_factory=list)      # every shard that found it
    workers: list[str] = field(default_factory=list)

    @property
    def found(self):
        return self.finding.shrunk

    @property
    def reproduced(self) -> bool:
        return self.replayed is not None and not self.replayed.ok and self.replayed.kind == self.found.kind


@dataclass
class Campaign:
    shards: list[ShardResult] = field(default_factory=list)      # finished, this run and resumed
    resumed: int = 0
    errors: dict[str, str] = field(default_factory=dict)          # shard key -> why it did not finish
    workers: dict[str, dict] = field(default_factory=dict)        # address -> environment
    versions: dict[str, str] = field(default_factory=dict)        # address -> Hypothesis version at start
    database_lost: str | None = None
    replays: list[Replay] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def examples(self) -> int:
        return sum(s.summary.examples for s in self.shards)


def _ordered(shards: list[ShardResult]) -> list[ShardResult]:
    """Completion order varies; merged results must not: order by implementation, filter, seed."""
    return sorted(shards, key=lambda s: (s.shard.impl, s.shard.dtype or "", s.shard.spec_family or "",
                                         s.shard.examples or 0, s.shard.seed))


def run(shards: list[Shard], settings: WorkerSettings, *, jsonl: str, scheduler: str | None = None,
        workers: int | None = None, minutes: float | None = None, resume: bool = False, on_event=None,
        on_shard=None) -> Campaign:
    """Run ``shards`` on the cluster, streaming records to ``jsonl``; with ``minutes``, keep
    submitting further seeds of each family until the time is up. ``resume``: skip the shards
    ``jsonl`` marks finished. ``on_event(text)`` gets progress lines; ``on_shard(result, client)``
    each finished shard once it is on disk (tests disturb the cluster from there)."""
    from distributed import as_completed

    say = on_event or (lambda text: None)
    started = time.perf_counter()
    campaign = Campaign()
    if resume:
        campaign.shards = load_finished(jsonl)
        campaign.resumed = len(campaign.shards)
    done = {s.shard.key for s in campaign.shards}
    todo = [s for s in shards if s.key not in done]
    if resume:
        say(f"resuming {jsonl}: {len(done)} shards finished, {len(todo)} to run")
    if settings.shared_database:
        check_redis(settings.shared_database)
    families: dict[tuple, list[Shard]] = {}
    for s in list(shards) + [r.shard for r in campaign.shards]:
        families.setdefault(s.family, []).append(s)
    deadline = time.monotonic() + minutes * 60 if minutes else None
    log = None
    try:
        with connect(scheduler, workers) as client:
            campaign.versions = check_versions(client)
            if not resume and os.path.exists(jsonl):     # only now: bad input above loses nothing
                os.unlink(jsonl)
            log = CampaignLog(jsonl)
            client.register_plugin(_release_plugin())
            where = scheduler or "embedded LocalCluster"
            say(f"cluster: {len(campaign.versions)} workers ({where}), "
                f"hypothesis {settings.hypothesis} on every one; JAX "
                + ("one worker process per Dask worker" if settings.jax else "off"))
            token = uuid.uuid4().hex[:8]
            pending = {}

            def submit(shard: Shard):
                future = client.submit(run_shard, shard, settings, key=f"conv-oracle-shard-{token}-{shard.key}",
                                       retries=RETRIES, pure=False)
                pending[future.key] = shard
                return future

            queue = as_completed([submit(s) for s in todo])
            for future in queue:
                shard = pending.pop(future.key)
                try:
                    result: ShardResult = future.result()
                except Exception as exc:    # raised on every try, or its workers kept dying (KilledWorker)
                    campaign.errors[shard.key] = f"{type(exc).__name__}: {exc}"
                    say(f"shard {shard.key} did not finish: {campaign.errors[shard.key]}")
                    continue
                finally:
                    future.release()
                log.write(result)
                campaign.shards.append(result)
                campaign.workers.setdefault(result.worker, result.environment)
                summary = result.summary
                say(f"shard {shard.key}: {summary.examples} examples, {len(summary.findings)} distinct failures "
                    f"on {result.worker}, {summary.seconds:.1f} s")
                if result.database_lost and settings.shared_database:
                    campaign.database_lost = f"{settings.shared_database} lost mid-run ({result.database_lost})"
                    say(f"example database {campaign.database_lost}: the campaign goes on with the local database")
                    settings = replace(settings, shared_database=None)
                if on_shard is not None:
                    on_shard(result, client)
                if deadline is not None and time.monotonic() < deadline:
                    family = families[shard.family]
                    family.append(next_shard(family))
                    queue.add(submit(family[-1]))
    finally:
        if log is not None:
            log.close()
    campaign.seconds = time.perf_counter() - started
    return campaign


def _distinct_failures(campaign: Campaign) -> list[Replay]:
    """The campaign's failures deduplicated by (implementation, search, descriptor), in shard order."""
    distinct: dict[tuple, Replay] = {}
    for s in _ordered(campaign.shards):
        for finding in s.summary.findings:
            f = finding.shrunk
            replay = distinct.setdefault((f.impl, f.search, f.relation, f.descriptor), Replay(finding))
            replay.shards.append(s.shard.key)
            if s.worker not in replay.workers:
                replay.workers.append(s.worker)
    return list(distinct.values())


def replay_failures(campaign: Campaign, *, trusted: bool = False, timeout: float | None = None,
                    memory_limit: int = DEFAULT_MEMORY_LIMIT) -> list[Replay]:
    """Each distinct failure replayed once, here, against the float64 oracle (as ``check --case`` does)."""
    from contextlib import nullcontext

    from . import registry
    from .engine import replay as replay_case
    from .isolation import IsolatedExecutor
    from .runner import single_threaded

    campaign.replays = _distinct_failures(campaign)
    for replay in campaign.replays:
        f = replay.found
        plugin = registry.load(f.impl)
        isolated = nullcontext() if trusted else IsolatedExecutor(f.impl, timeout=timeout, memory_limit=memory_limit)
        with single_threaded(), isolated as executor:
            replay.replayed = replay_case(plugin, f, executor)
    return campaign.replays


# ---- the merged report ----------------------------------------------------------------------------
def merged_records(campaign: Campaign, settings: WorkerSettings, *, profile: str, examples: int | None,
                   seed: int, impls: list[str]) -> list[dict]:
    """What a campaign appends to its JSONL file after the shards' case records, so that the
    file is a report stream (``conv-oracle report --from-jsonl FILE`` rebuilds the verdicts):
    the ``report`` record, a ``plugin`` record per implementation, per implementation one
    ``run`` record summing its shards', and one ``failure`` record per distinct failure (its
    client replay as the shrunk case where it reproduced)."""
    from . import environment, registry
    from .aggregate import SCHEMA
    from .report import plugin_record

    ordered = _ordered(campaign.shards)
    out: list[dict] = []
    for name in impls:
        out.append(plugin_record(name, registry.entry(name)))
        runs = [s.run_record for s in ordered if s.shard.impl == name]
        run = {"record": "run", "impl": name, "profile": profile, "seed": seed,
               "searches": list(dict.fromkeys(n for r in runs for n in r.get("searches", []))),
               "skipped": {k: v for r in runs for k, v in (r.get("skipped") or {}).items()}, "minutes": None}
        for count in ("examples_asked", "calls", "shrink_calls", "reused"):
            run[count] = sum(r.get(count) or 0 for r in runs)
        for seconds in ("seconds", "seconds_before_drain"):
            run[seconds] = round(sum(r.get(seconds) or 0 for r in runs), 3)
        run["stopped_by"] = next((r["stopped_by"] for r in runs if r.get("stopped_by")), "")
        run["families"] = {}
        for r in runs:
            for family, count in (r.get("families") or {}).items():
                run["families"][family] = run["families"].get(family, 0) + count
        out.append(run)
    for replay in campaign.replays:
        finding = replay.finding
        if replay.reproduced:          # the client's verdict stands for the shrunk case
            replayed = replace(replay.replayed, index=finding.shrunk.index)
            out.append(replayed.to_dict())
        out.append(finding.to_record())
    asked = max((r["examples_asked"] for r in out if r.get("record") == "run"), default=0)
    out.append({"record": "report", "schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "profile": profile, "examples": examples, "examples_per_impl": asked, "minutes": None, "seed": seed,
                "impls": impls, "jax_cross_check": settings.jax, "seconds": round(campaign.seconds, 2),
                "environment": environment.describe(None)})
    return out


def campaign_section(campaign: Campaign, settings: WorkerSettings) -> dict:
    """The report's ``campaign`` section: shards, workers and their environments, replays, database."""
    return {
        "shards": [{k: v for k, v in s.marker().items() if k not in ("environment", "run", "failures", "record")}
                   for s in _ordered(campaign.shards)],
        "unfinished": campaign.errors,
        "resumed_shards": campaign.resumed,
        "workers": campaign.workers,
        "hypothesis": settings.hypothesis,
        "jax": "one JAX worker process per Dask worker" if settings.jax else "none",
        "database": {"local": settings.local_database, "shared": settings.shared_database,
                     "lost": campaign.database_lost},
        "replays": [{"impl": r.found.impl, "search": r.found.search, "relation": r.found.relation,
                     "descriptor": r.found.descriptor, "seed": r.found.seed, "fill": r.found.fill,
                     "kind_found": r.found.kind,
                     "kind_replayed": (r.replayed.kind or r.replayed.status) if r.replayed else None,
                     "reproduced": r.reproduced, "shards": r.shards, "workers": r.workers,
                     "replay": r.found.replay()} for r in campaign.replays],
        "examples": campaign.examples,
        "examples_per_second": round(campaign.examples / campaign.seconds, 2) if campaign.seconds else None,
    }


def merged_report(campaign: Campaign, merged: list[dict], settings: WorkerSettings) -> dict:
    """The conformance report of the whole campaign, built from its records by the same path as
    ``report --from-jsonl`` (:func:`conv_oracle.aggregate.conformance_from_records`), plus
    the ``campaign`` section."""
    from .aggregate import clean, conformance_from_records

    records = [r for s in _ordered(campaign.shards) for r in s.case_records] + merged
    report = conformance_from_records(json.loads(json.dumps(records, default=float)))
    report["campaign"] = clean(campaign_section(campaign, settings))
    return report
