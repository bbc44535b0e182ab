"""Command-line glue for the reports: ``conv-oracle report`` and the timing report of
``conv-oracle bench``. ``cli.py`` wires them with one line each:

* ``add_report_parser(sub)`` adds the ``report`` sub-command (handler :func:`cmd_report`);
* :func:`cmd_bench_report` runs the bench options (``conv_oracle.bench.build_parser`` plus
  :func:`add_bench_report_options`) and writes ``reports/timing.{json,md,html}``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

DEFAULT_OUT = "reports"


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    from . import arguments
    from .profiles import PROFILES

    p = subparsers.add_parser("report", help="conformance report of every (or the named) implementation "
                                             "-> reports/conformance.{json,md,html}")
    p.add_argument("--impl", action="append", metavar="NAME",
                   help="implementation (entry-point name or module:attr); repeatable; default: CONV_ORACLE_IMPLS, "
                        "else all registered")
    p.add_argument("--profile", choices=PROFILES, default="ci", help="Hypothesis profile (default ci)")
    p.add_argument("--examples", type=arguments.count(1),
                   help="Hypothesis examples per implementation (default: the profile's)")
    p.add_argument("--seed", type=arguments.seed, default=0, help="Hypothesis seed (default 0): same seed, same verdicts")
    p.add_argument("--out", type=arguments.output_dir, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)")
    p.add_argument("--no-studies", action="store_true", help="skip the Winograd accuracy and FFT tightness studies")
    p.add_argument("--no-jax", action="store_true", help="skip the JAX cross-check of the oracle")
    p.add_argument("--trusted", action="store_true",
                   help="run the implementations in this process (faster; no protection from hangs or crashes)")
    p.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)   # the default now; kept for old scripts
    p.add_argument("--frameworks", action="store_true",
                   help="the framework candidates instead (each in its worker), with library versions, triage and "
                        "reproduction scripts -> reports/frameworks.{json,md,html} and reports/frameworks/")
    p.add_argument("--update", action="store_true",
                   help="with --frameworks --impl NAME: re-run those candidates and replace their entries (and "
                        "scripts) in the existing report under --out, keeping the others")
    p.add_argument("--minutes", type=arguments.minutes, help="fuzz each implementation for this many minutes instead")
    p.add_argument("--from-jsonl", nargs="+", metavar="FILE", type=arguments.input_file,
                   help="rebuild the report from recorded runs (a report's conformance.jsonl, a campaign's "
                        "records); no plugin, oracle or JAX is called")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args) -> int:
    """Build and write the conformance report. The report is written even when implementations
    fail; the exit code says how they did, as ``check``'s does: 1 when a selected plugin fails
    or is unavailable, 3 when only the oracles disagree, 0 otherwise. A selected name that no
    plugin has is bad input (exit 2, before any work)."""
    from rich.console import Console

    from . import config, registry
    from .report import build_conformance, build_from_records, write_conformance

    console = Console(highlight=False, soft_wrap=True)   # replay lines stay whole, copyable
    if args.minutes is not None and args.examples is not None:
        print("conv-oracle: error: --minutes fuzzes for a time: it does not combine with --examples", file=sys.stderr)
        return 2
    if args.from_jsonl:
        from .stream import read_all

        records = read_all(args.from_jsonl)
        if not any(r.get("record", "case") == "case" for r in records):
            print(f"conv-oracle: error: no case records in {', '.join(args.from_jsonl)}", file=sys.stderr)
            return 2
        report = build_from_records(records)
    else:
        impls = args.impl or config.impls() or None
        for name in impls or ():
            if ":" not in name and name not in registry.names():
                where = "--impl" if args.impl else "CONV_ORACLE_IMPLS"
                raise registry.UnknownImplementationError(
                    f"{where}: unknown implementation {name!r}; known: {', '.join(registry.names())}")
        if args.frameworks:
            return cmd_frameworks_report(args, impls)
        if args.update:
            print("conv-oracle: error: --update goes with --frameworks", file=sys.stderr)
            return 2
        report = build_conformance(impls, args.profile, args.examples, args.seed, trusted=args.trusted,
                                   jax=not args.no_jax, studies=not args.no_studies, minutes=args.minutes,
                                   jsonl=os.path.join(args.out, "conformance.jsonl"))
    paths = write_conformance(report, args.out)
    s = report["summary"]
    console.print(f"passing: {', '.join(s['passing']) or '-'}; failing: {', '.join(s['failing']) or '-'}; "
                  f"insufficient: {', '.join(s['insufficient']) or '-'}; "
                  f"unavailable: {', '.join(s['unavailable']) or '-'}; {s['failures']} distinct failures, "
                  f"{s['disagreements']} oracle disagreements; {report['run']['seconds']} s")
    for e in report["implementations"]:
        for f in e.get("failures", []):
            console.print(f"[red]FAIL[/red] {e['name']} {f['descriptor']} ({f['kind']}, {f['outputs']})\n"
                          f"  replay: {f['replay']}")
    for key, data in report["studies"].items():
        if "unavailable" in data:
            console.print(f"[yellow]study {key} unavailable[/yellow]: {data['unavailable']}")
    console.print("wrote " + ", ".join(paths.values())
                  + ("" if args.from_jsonl else f" and the records, {os.path.join(args.out, 'conformance.jsonl')}"))
    if s["failing"] or s["unavailable"] or s["insufficient"]:
        return 1
    return 3 if s["disagreements"] else 0


def cmd_frameworks_report(args, impls=None) -> int:
    """``report --frameworks``: every framework candidate (or the selected ones). Exit 1 when a
    candidate has a finding, 3 when only the oracles disagree, else 0; a candidate whose library
    is not installed is listed with its install command, not counted as failing."""
    from rich.console import Console

    import json

    from .environment import describe
    from .frameworks_report import UpdateError, build_frameworks, check_update, update_frameworks, write_frameworks

    console = Console(highlight=False)
    previous = None
    if args.update:
        path = os.path.join(args.out, "frameworks.json")
        try:
            with open(path) as handle:
                previous = json.load(handle)
        except (OSError, ValueError) as exc:
            print(f"conv-oracle: error: --update needs the report to update, {path}: {exc}", file=sys.stderr)
            return 2
        if not impls:
            print("conv-oracle: error: --update needs the candidates to re-run (--impl NAME)", file=sys.stderr)
            return 2
        try:
            check_update(previous, {"profile": args.profile, "examples": args.examples, "seed": args.seed,
                                    "minutes": args.minutes}, describe(None).get("cpu"))
        except (UpdateError, KeyError) as exc:
            print(f"conv-oracle: error: --update: {exc}", file=sys.stderr)
            return 2
    report = build_frameworks(impls, args.profile, args.examples, args.seed, minutes=args.minutes,
                              out_dir=args.out, jax=not args.no_jax)
    if previous is not None:
        try:
            report = update_frameworks(previous, report)
        except UpdateError as exc:
            print(f"conv-oracle: error: --update: {exc}", file=sys.stderr)
            return 2
    paths = write_frameworks(report, args.out)
    s = report["summary"]
    console.print(f"passing: {', '.join(s['passing']) or '-'}; failing: {', '.join(s['failing']) or '-'}; "
                  f"unavailable: {', '.join(s['unavailable']) or '-'}; {len(report['findings'])} findings, "
                  f"{s['disagreements']} oracle disagreements; {report['run']['seconds']} s", markup=False)
    for f in report["findings"]:
        console.print(f"FINDING {f['candidate']} {f['descriptor']} ({f['kind']}, {f['outputs']}): "
                      f"{f.get('category', '?')}; reproduction {f.get('script')} "
                      f"(reproduced: {f.get('reproduced')})", markup=False, soft_wrap=True)
    console.print("wrote " + ", ".join(paths.values()), markup=False)
    if s["failing"]:
        return 1
    return 3 if s["disagreements"] else 0


# ---- timing -------------------------------------------------------------------------------------
def add_bench_report_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options the timing report adds to ``conv_oracle.bench.build_parser()``."""
    from . import arguments

    parser.add_argument("--out", type=arguments.output_dir, default=DEFAULT_OUT,
                        help=f"report directory (default {DEFAULT_OUT}/)")
    parser.add_argument("--no-report", action="store_true", help="print the table only; write no report")
    parser.add_argument("--no-crossover", action="store_true", help="skip the crossover sweep over kernel sizes")
    parser.add_argument("--no-accuracy", action="store_true",
                        help="skip the accuracy measurement of the speed-vs-accuracy plot")
    parser.add_argument("--from-json", metavar="PATH", type=arguments.input_file,
                        help="render a report from a saved bench JSON, timing nothing")
    return parser


def cmd_bench_report(args) -> int:
    """``conv-oracle bench [bench options] [--out DIR] [--no-report] ...``: time, then write the
    timing report. ``args.rest`` holds the raw options (cli.py passes them through)."""
    import json

    from . import bench
    from .timing_report import build_timing, default_impls, write_timing

    argv = list(getattr(args, "rest", None) or [])
    if argv[:1] == ["--"]:
        argv = argv[1:]
    parser = add_bench_report_options(bench.build_parser())
    opts = parser.parse_args(argv)
    if opts.from_json:
        try:
            with open(opts.from_json, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict) or not ("bench" in data or "results" in data):
                raise ValueError("not a bench JSON (it has neither 'results' nor 'bench')")
        except (ValueError, UnicodeDecodeError) as exc:
            print(f"conv-oracle: error: bench --from-json {opts.from_json}: {str(exc).splitlines()[0][:200]}",
                  file=sys.stderr)
            return 2
        report = data if "bench" in data else build_timing(data, crossover=False, accuracy=False)
        paths = write_timing(report, opts.out)
        print("wrote " + ", ".join(paths.values()))
        return 0
    try:
        settings = bench.settings_from_args(opts)
    except ValueError as exc:
        print(f"conv-oracle bench: {exc}", file=sys.stderr)
        return 2
    if opts.single_core and not bench.single_core():
        bench.pin_to_one_core()
    impls = bench._split(opts.impl, default_impls())
    t0 = time.perf_counter()
    data = bench.run_bench(impls, settings["layers"], settings["dtypes"], settings["modes"], settings["repeats"],
                           gap=settings["gap"], settle=settings["settle"], sgemm_n=settings["sgemm_n"],
                           progress=lambda rows: print(bench.format_rows(rows), flush=True))
    data["options"] = {"quick": opts.quick, "full": opts.full, **settings}
    if opts.json:
        text = json.dumps(data, indent=1)
        if opts.json == "-":
            print(text)
        else:
            with open(opts.json, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
    if opts.no_report:
        return 0
    report = build_timing(data, crossover=not opts.no_crossover, accuracy=not opts.no_accuracy,
                          quick=opts.quick, full=opts.full, repeats=settings["repeats"], gap=settings["gap"],
                          settle=settings["settle"])
    report["seconds"] = round(time.perf_counter() - t0, 1)
    paths = write_timing(report, opts.out)
    print("wrote " + ", ".join(paths.values()))
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m conv_oracle.report_cli report ...``) until cli.py wires it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # argparse's REMAINDER does not capture a leading option (--quick)
        return cmd_bench_report(argparse.Namespace(rest=argv[1:]))
    parser = argparse.ArgumentParser(prog="conv-oracle")
    sub = parser.add_subparsers(dest="command", required=True)
    add_report_parser(sub)
    sub.add_parser("bench", help="timing benchmark and report (see bench --help)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
