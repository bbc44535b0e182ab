"""``conv-oracle campaign``: the command line of :mod:`conv_oracle.campaign`.

``cli.py`` wires it with one line (``add_campaign_parser(sub)``). Bad input, an unreachable
scheduler or Redis server, or workers with another Hypothesis version: one line, exit 2.
Exit 1: a failure or a shard that did not finish; 3: the oracles disagree; 0 otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys

DEFAULT_OUT = os.path.join("reports", "campaign")


def add_campaign_parser(subparsers) -> argparse.ArgumentParser:
    from .profiles import PROFILES
    from .spec import DTYPE_TAGS
    from .strategies import FAMILIES

    p = subparsers.add_parser("campaign", help="fuzz on a Dask cluster (embedded LocalCluster by default) "
                                               "and write the merged report")
    p.add_argument("--impl", action="append", required=True, metavar="NAME",
                   help="implementation (entry-point name or module:attr); repeatable")
    p.add_argument("--shards", type=int, default=4,
                   help="shards per implementation (and per --dtype and --family) (default 4)")
    p.add_argument("--minutes", type=float,
                   help="keep submitting further seeds of every shard family until this time is up")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786", help="an existing Dask scheduler (default: embedded)")
    p.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default: one per CPU)")
    p.add_argument("--database", metavar="redis://HOST:PORT/DB",
                   help="shared Hypothesis example database, multiplexed with the local one")
    p.add_argument("--profile", choices=PROFILES, default="dev", help="Hypothesis profile of every shard (default dev)")
    p.add_argument("--examples", type=int, help="examples per shard (default: the profile's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first shard; shard i gets seed+i (default 0)")
    p.add_argument("--dtype", action="append", choices=sorted(DTYPE_TAGS),
                   help="only this dtype (repeatable: shards of each)")
    p.add_argument("--family", action="append", choices=FAMILIES,
                   help="only this spec family (repeatable: shards of each; default: all, in the profile's shares)")
    p.add_argument("--jsonl", help=f"case records of the campaign (default {DEFAULT_OUT}/campaign.jsonl, replaced)")
    p.add_argument("--resume", metavar="FILE", help="continue the campaign recorded in FILE: run the unfinished shards")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"directory of the merged report (default {DEFAULT_OUT}/)")
    p.add_argument("--no-jax", action="store_true", help="no JAX worker process (no cross-check) on the workers")
    p.add_argument("--trusted", action="store_true", help="run implementations inside the Dask workers, not isolated")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per case in the isolated worker (default: as check, from the oracle's time)")
    p.add_argument("--memory-limit", type=float, default=4096, help="MiB the isolated worker may allocate")
    p.set_defaults(func=cmd_campaign)
    return p


def _fail(text: str) -> int:
    print(f"conv-oracle: error: {text}", file=sys.stderr)
    return 2


def cmd_campaign(args) -> int:
    from rich.console import Console

    from . import campaign, environment, registry
    from .report import write_conformance

    console = Console(highlight=False)

    def say(text: str) -> None:
        console.print(text, markup=False, soft_wrap=True)

    if args.shards < 1:
        return _fail("--shards must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        return _fail("--minutes must be positive")
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        return _fail("--workers sizes the embedded cluster: at least 1, and not with --scheduler")
    if args.resume and args.jsonl and os.path.abspath(args.resume) != os.path.abspath(args.jsonl):
        return _fail("--resume FILE continues FILE: give no other --jsonl")
    jsonl = args.resume or args.jsonl or os.path.join(args.out, "campaign.jsonl")
    if args.resume and not os.path.exists(jsonl):
        return _fail(f"--resume {jsonl}: no such file")
    if args.jsonl and not args.resume and os.path.exists(args.jsonl) and os.path.getsize(args.jsonl):
        return _fail(f"--jsonl {args.jsonl} already holds records: continue that campaign with --resume "
                     f"{args.jsonl}, or name a new file")
    impls = list(dict.fromkeys(args.impl))
    for name in impls:           # unknown or broken: one line, exit 2 (cli.main reports it)
        declared = registry.load(name).capabilities.dtypes
        for dtype in args.dtype or ():
            if dtype not in declared:
                return _fail(f"{name} does not declare {dtype} (declares {', '.join(declared)}): "
                             f"drop --dtype {dtype} or that implementation")
    settings = campaign.WorkerSettings(
        campaign.hypothesis_version(), jax=not args.no_jax, trusted=args.trusted, timeout=args.timeout,
        memory_limit=int(args.memory_limit * 2**20), local_database=campaign.local_database_path(args.profile),
        shared_database=args.database)
    shards = campaign.plan(impls, args.shards, profile=args.profile, examples=args.examples, seed=args.seed,
                           dtypes=args.dtype, families=args.family)
    try:
        result = campaign.run(shards, settings, jsonl=jsonl, scheduler=args.scheduler, workers=args.workers,
                              minutes=args.minutes, resume=bool(args.resume), on_event=say)
    except campaign.CampaignError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        import shlex

        from .stream import read, resume_argv

        finished = sum(r.get("record") == "shard" for r in read(jsonl)) if os.path.exists(jsonl) else 0
        print(f"conv-oracle: interrupted; {finished} finished shards are saved in {jsonl}; resume with: conv-oracle "
              + shlex.join(resume_argv(sys.argv[1:], jsonl)), file=sys.stderr)
        return 130
    replays = campaign.replay_failures(result, trusted=args.trusted, timeout=args.timeout,
                                       memory_limit=settings.memory_limit)
    for address, env in sorted(result.workers.items()):
        say(f"worker {address}: " + environment.one_line(env))
    for r in replays:
        state = ("reproduced on the client" if r.reproduced else
                 f"NOT reproduced on the client (replay: {r.replayed.status} {r.replayed.kind})".rstrip())
        say(f"FAIL {r.found.message()}\n  found by {len(r.shards)} shard(s) on {', '.join(r.workers)}; {state}")
    merged = campaign.merged_records(result, settings, profile=args.profile, examples=args.examples,
                                     seed=args.seed, impls=impls)
    log = campaign.CampaignLog(jsonl)          # the file becomes a report stream: report --from-jsonl reads it
    log.write_records(merged)
    log.close()
    report = campaign.merged_report(result, merged, settings)
    paths = write_conformance(report, args.out)
    disagreements = report["summary"]["disagreements"]
    rate = result.examples / result.seconds if result.seconds else 0.0
    say(f"campaign: {len(result.shards)} shards finished ({result.resumed} from {jsonl}), {len(result.errors)} "
        f"unfinished; {result.examples} examples on {len(result.workers)} workers, {rate:.0f} examples/s overall; "
        f"{len(replays)} distinct failures, {disagreements} oracle disagreements; {result.seconds:.1f} s")
    if result.database_lost:
        say(f"note: example database {result.database_lost}; finished with the local database")
    say(f"records: {jsonl}; wrote " + ", ".join(paths.values()))
    if replays or result.errors:
        return 1
    return 3 if disagreements else 0
