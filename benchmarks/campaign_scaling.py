"""Examples per second of ``conv-oracle campaign`` with 1 and 2 workers against ``check`` in
one process, and the scheduler overhead per shard, interleaved in the same rounds.

Each round runs, in rotating order:

* ``check``     ``conv-oracle check IMPL --examples SHARDS*N --seed R`` in a subprocess;
* ``campaign-1`` and ``campaign-2``: SHARDS shards of N examples on an embedded LocalCluster
  of 1 and 2 workers.

For each it records the distinct declared-supported examples, the wall time and the rate;
for the campaigns also the cluster's start-up and the rate after it (first submission to
last record on disk). The overhead per shard comes from the 1-worker run, where shards run
one after another: (time from first submission to last record - sum of the engine's own
seconds per shard) / shards. A no-op Dask task's round trip and the client's cost of writing
one record are measured beside it. Run under the exclusive CPU lock::

    flock -x /tmp/conv-oracle-cpu.lock .venv/bin/python benchmarks/campaign_scaling.py [--impl loop] \\
        [--shards 4] [--examples 100] [--rounds 3] [--jax] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace


def run_check(impl: str, examples: int, seed: int, jax: bool) -> dict:
    cmd = [sys.executable, "-m", "conv_oracle.cli", "check", impl, "--profile", "dev", "--examples", str(examples),
           "--seed", str(seed)] + ([] if jax else ["--no-jax", "--trusted"])
    with tempfile.TemporaryDirectory() as db:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CONV_ORACLE_DB": db})
        wall = time.perf_counter() - t0
    found = re.search(r"; (\d+) examples \(distinct cases", done.stdout)
    if done.returncode not in (0, 1, 3) or found is None:
        raise RuntimeError(f"check failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    count = int(found.group(1))
    cases = count + sum(int(n) for n in re.findall(r"(\d+) (?:declared-unsupported offered|relation cases)", done.stdout))
    engine_s = float(re.search(r"examples/s overall .*?, ([\d.]+) s\s*$", done.stdout, re.M).group(1))
    return {"examples": count, "wall_s": wall, "rate": count / wall, "cases": cases, "cases_per_s": cases / wall,
            "engine_s": engine_s, "per_worker_rate": count / engine_s}


def run_campaign(impl: str, shards: int, examples: int, seed: int, workers: int, jax: bool) -> dict:
    from conv_oracle import campaign

    settings = campaign.WorkerSettings(campaign.hypothesis_version(), jax=jax, trusted=not jax)
    plan = campaign.plan([impl], shards, profile="dev", examples=examples, seed=seed)
    marks = {}

    def on_event(text):
        if text.startswith("cluster:"):
            marks["up"] = time.perf_counter()

    def on_shard(result, client):
        marks["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(settings, local_database=os.path.join(tmp, "db"))
        t0 = time.perf_counter()
        result = campaign.run(plan, settings, jsonl=os.path.join(tmp, "c.jsonl"), workers=workers,
                              on_event=on_event, on_shard=on_shard)
        wall = time.perf_counter() - t0
        t_write = time.perf_counter()
        log = campaign.CampaignLog(os.path.join(tmp, "again.jsonl"))
        for s in result.shards:
            log.write(s)
        log.close()
        write_s = time.perf_counter() - t_write
    count = sum(s.summary.examples for s in result.shards)
    cases = sum(len(s.summary.results) for s in result.shards)     # oracle, honesty and relation cases
    engine_s = sum(s.run_record.get("seconds") or 0 for s in result.shards)
    after_start = marks["last"] - marks["up"]
    records = sum(len(s.records) for s in result.shards)
    return {"examples": count, "wall_s": wall, "rate": count / wall, "startup_s": marks["up"] - t0,
            "after_startup_s": after_start, "rate_after_startup": count / after_start, "engine_s": engine_s,
            "overhead_per_shard_s": (after_start - engine_s / workers) / shards,
            "client_write_per_record_ms": 1e3 * write_s / max(records, 1), "records": records,
            "cases": cases, "cases_per_s": cases / wall,
            "per_worker_rate": count / engine_s * 1.0}


def noop_roundtrip(count: int = 200) -> float:
    """Seconds per no-op task submitted and gathered one at a time (scheduler + comms)."""
    from conv_oracle import campaign

    with campaign.connect(workers=1) as client:
        client.submit(int, 0, pure=False).result()
        t0 = time.perf_counter()
        for i in range(count):
            client.submit(int, i, pure=False).result()
        return (time.perf_counter() - t0) / count


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="loop")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--examples", type=int, default=100, help="examples per shard")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jax", action="store_true", help="JAX cross-check and isolated plugin (check's defaults)")
    p.add_argument("--json")
    args = p.parse_args()
    rows: dict[str, list[dict]] = {"check": [], "campaign-1": [], "campaign-2": []}
    order = list(rows)
    for r in range(args.rounds):
        for name in order[r % 3:] + order[:r % 3]:
            if name == "check":
                row = run_check(args.impl, args.shards * args.examples, r, args.jax)
            else:
                row = run_campaign(args.impl, args.shards, args.examples, 100 * r, int(name[-1]), args.jax)
            rows[name].append(row)
            print(name, json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
    summary = {name: {k: statistics.median(row[k] for row in rs) for k in rs[0]} for name, rs in rows.items()}
    summary["noop_task_roundtrip_ms"] = 1e3 * noop_roundtrip()
    summary["load_average"] = os.getloadavg()
    summary["settings"] = vars(args)
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rounds": rows, "medians": summary}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
