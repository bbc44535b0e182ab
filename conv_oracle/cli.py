"""Command line: parses arguments and calls the modules that do the work.

Bad input (malformed descriptor, unknown implementation, broken plugin, impossible spec,
contradictory options) ends with a one-line error and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import arguments, config, registry
from .cases import FILLS
from .profiles import PROFILES
from .relations import RELATIONS
from .spec import ConvSpec, SpecError
from .strategies import describe_draws

console = Console(highlight=False)


def say(text: str) -> None:
    """Plain text, never wrapped or parsed as markup: replay lines must stay copyable."""
    console.print(text, markup=False, soft_wrap=True)
EXIT_FAIL, EXIT_USAGE, EXIT_ORACLES, EXIT_INSUFFICIENT = 1, 2, 3, 4


class UsageError(ValueError):
    pass


def cmd_list(args) -> int:
    for e in registry.all_entries():
        if e.plugin is None:
            console.print(f"[bold]{escape(e.name)}[/bold]  [red]unavailable[/red]  ({escape(e.target)})")
            say(f"    cause: {e.error}")
            continue
        p = e.plugin
        console.print(f"[bold]{escape(p.name)}[/bold]  [green]ok[/green]  ({escape(e.target)}, layout {p.layout})")
        for label, text in (("description", p.description), ("capabilities", p.capabilities.summary()),
                            ("error model", p.error_model.describe()),
                            ("backward", p.backward_method or ("yes" if p.capabilities.backward else "no"))):
            say(f"    {label:13s}{text}")
    return 0


def cmd_env(args) -> int:
    from . import environment
    from .oracles.worker import JaxWorker

    with JaxWorker() as worker:
        env = environment.describe(worker.settings())
    console.print_json(json.dumps(env, default=str))
    return 0


def _summary_table(summary) -> Table:
    table = Table(title=f"{summary.impl}: {summary.examples} examples, profile {summary.profile}")
    for col in ("output", "checked", "failed", "max err/bound", "median err/bound", "exact (integer)",
                "bound power"):
        table.add_column(col)
    for row in summary_rows(summary.results):
        table.add_row(*[f"[red]{c}[/red]" if i == 2 and c != "0" else c for i, c in enumerate(row)])
    return table


def summary_rows(results) -> list[list[str]]:
    """Per output of the oracle cases: checked, failed, max and median err/bound, exact-required
    count, and the bound power (median over cases of ||bound|| / ||y||: near 1 is vacuous)."""
    from statistics import median

    rows = []
    for o in ("y", "dx", "dw", "db"):
        vs = [v for r in results if r.search == "oracle" for v in r.verdicts if v.output == o]
        if not vs:
            continue
        powers = [v.bound_power for v in vs if v.bound_power is not None and not v.exact_required]
        rows.append([o, str(len(vs)), str(sum(not v.ok for v in vs)), f"{max(v.max_ratio for v in vs):.3g}",
                     f"{median(v.median_ratio for v in vs):.3g}", str(sum(v.exact_required for v in vs)),
                     f"{median(powers):.2g}" if powers else "-"])
    return rows


@contextmanager
def _executor(args, plugin):
    """The isolated worker unless --trusted: a hanging or crashing plugin costs one case."""
    from .isolation import executor_for

    with executor_for(plugin, trusted=args.trusted, timeout=args.timeout,
                      memory_limit=arguments.memory_limit_bytes(args.memory_limit)) as executor:
        yield executor


def _check_budget(spec: ConvSpec, max_elements: int) -> None:
    """Refuse a case larger than the work budget before any array is allocated."""
    if spec.elements > max_elements:
        raise UsageError(f"case {spec.descriptor()} needs {spec.elements} elements of x + w + y, over the budget "
                         f"of {max_elements}: raise --max-elements if you mean it")


def cmd_check(args) -> int:
    from .oracles.worker import JaxWorker, pin_away_from_worker
    from .runner import CrossCheck, Disagreement, run_case, single_threaded

    if args.case is None and args.fill is not None:
        raise UsageError("--fill only applies to a single --case")
    if args.case is None and args.relation is not None:
        raise UsageError("--relation only applies to a single --case")
    if args.minutes is not None and (args.examples is not None or args.case is not None):
        raise UsageError("--minutes fuzzes for a time: it does not combine with --examples or --case")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError("--minutes must be a positive number")
    if args.case is not None and (args.examples is not None or args.resume):
        raise UsageError("--case replays one case: it does not combine with --examples or --resume")
    if args.resume and args.profile != "ci" and args.seed is None:
        raise UsageError("--resume needs a reproducible run: use --profile ci or give --seed")
    plugin = registry.load(args.impl)
    worker = None if args.no_jax else JaxWorker()
    try:
        jax_settings = None
        if worker is not None:
            jax_settings = worker.settings()   # start it before pinning ourselves away from its CPU
            pin_away_from_worker()
        if args.case is not None:
            spec = ConvSpec.parse(args.case)
            cross = CrossCheck(worker) if worker is not None else None
            _check_budget(spec, args.max_elements)
            with single_threaded(), _executor(args, plugin) as executor:
                if args.relation:
                    from .engine import relation_case
                    result = relation_case(plugin, args.relation, spec, args.seed or 0, executor)
                else:
                    result = run_case(plugin, spec, args.seed or 0, args.fill or "normal", cross_check=cross,
                                      executor=executor)
            disagreements = [Disagreement.of(r) for r in cross.finished(wait=True)
                             if r.jax["status"] == "disagree"] if cross else []
            if result.ok:
                console.print(f"[green]{result.status}[/green] {escape(result.impl)} {result.descriptor} "
                              f"(seed {result.seed}, fill {result.fill})")
            else:
                say(result.message())
            for v in result.verdicts:
                if v.ok:
                    console.print(f"  {v.output}: max err/bound {v.max_ratio:.3g}"
                                  + (" (exact required)" if v.exact_required else "")
                                  + (f", bound power {v.bound_power:.2g}" if v.bound_power is not None else ""))
            for d in disagreements:
                say(d.message())
            return EXIT_FAIL if not result.ok else (EXIT_ORACLES if disagreements else 0)

        from .engine import run_campaign
        from .profiles import EXAMPLES
        from .progress import RunProgress
        from .stream import ResultStream, recorded_results

        resume = recorded_results(args.resume, plugin) if args.resume else None
        progress = RunProgress(f"check {args.impl}", None if args.minutes else args.examples or EXAMPLES[args.profile])

        def on_result(result):
            stream.write(result)
            progress.advance(counted=result.search == "oracle", failed=not result.ok)

        with ResultStream.open(args.jsonl) as stream, _executor(args, plugin) as executor, progress:
            summary = run_campaign(plugin, profile=args.profile, examples=args.examples, minutes=args.minutes,
                                   seed=args.seed, jax_worker=worker, on_result=on_result,
                                   on_record=stream.write_record, executor=executor, resume=resume)
    finally:
        if worker is not None:
            worker.close()
    from . import environment

    say("environment: " + environment.one_line(environment.describe(jax_settings)))
    console.print(_summary_table(summary))
    say(describe_draws(summary.profile, summary.families))
    refused = sum(r.status == "refused" for r in summary.results)
    console.print(f"declared-unsupported cases offered: {summary.honesty_examples}, refused cleanly: {refused}")
    relations = summary.relation_examples
    say("oracle-free relations: " + (", ".join(f"{k} {v}" for k, v in relations.items()) or "none")
        + "".join(f"; {k} not run: {why}" for k, why in summary.skipped.items()))
    for finding in summary.findings:
        say(f"FAIL [{finding.search}] {finding.shrunk.message()}")
        if finding.first.key != finding.shrunk.key:
            say(f"  first failing case before shrinking: {finding.first.descriptor} (seed {finding.first.seed}, "
                f"fill {finding.first.fill}): {finding.first.replay()}")
    if summary.stopped_by:
        say(f"{summary.impl}: search stopped at its first {summary.stopped_by} fault (each further example "
            "would cost a timeout or a worker restart; this case is not shrunk)")
    for d in summary.disagreements:
        say(d.message())
    say(summary.line())
    if summary.reused:
        say(f"resumed: {summary.reused} case records reused from {args.resume}")
    say(f"{summary.rate:.0f} examples/s overall ({summary.examples / max(summary.seconds_before_drain, 1e-9):.0f}/s "
        f"before waiting for the JAX worker), {summary.seconds:.1f} s")
    if summary.findings:
        return EXIT_FAIL
    if summary.insufficient:
        return EXIT_INSUFFICIENT
    return EXIT_ORACLES if summary.disagreements else 0


def cmd_output_mutants(args) -> int:
    """``selftest --impl NAME``: the detection rate of the output mutants of any plugin."""
    from . import output_mutants

    plugin = registry.load(args.impl)
    table = Table(title=f"{args.impl}: output mutants (profile {args.profile}, "
                        f"{'in this process' if args.trusted else 'each in an isolated worker'})")
    for col in ("mutant", "perturbation", "verdict", "caught by", "examples", "evidence"):
        table.add_column(col, overflow="fold")

    def verdict(d):
        return ("detected by " + d.check if d.detected else "NOT DETECTED" if d.measured
                else "NOT MEASURED (the plugin fails that case unmutated)")
    found = output_mutants.detect(plugin, args.profile, isolated=not args.trusted, on_result=lambda d: console.print(
        f"{d.mutant}: {verdict(d)} ({d.examples} examples)", markup=False), timeout=args.timeout,
        memory_limit=arguments.memory_limit_bytes(args.memory_limit))
    for d in found:
        shown = "[green]detected[/green]" if d.detected else "[red]missed[/red]" if d.measured else "[red]not measured[/red]"
        table.add_row(d.mutant, d.description, shown, escape(d.check), str(d.examples), escape(d.evidence))
    console.print(table)
    unmeasured = next((d for d in found if not d.measured), None)
    if unmeasured is not None:
        say(f"{args.impl}: output-mutant detection rate not measured: {unmeasured.evidence}")
        return EXIT_FAIL
    say(f"{args.impl}: output-mutant detection rate {output_mutants.rate(found)}")
    return 0 if all(d.detected for d in found) else EXIT_FAIL


def cmd_selftest(args) -> int:
    from . import mutants, selftest

    limits = [o for o, v in (("--timeout", args.timeout), ("--memory-limit", args.memory_limit)) if v is not None]
    if limits and (args.trusted or not args.impl):
        raise UsageError(f"{' and '.join(limits)} {'apply' if len(limits) > 1 else 'applies'} to the workers of "
                         "selftest --impl only (without --impl or with --trusted nothing runs in a worker)")
    if args.impl:
        return cmd_output_mutants(args)
    if args.trusted:
        raise UsageError("--trusted applies to selftest --impl only (the planted bugs run in this process)")

    table = Table(title=f"harness mutation score (profile {args.profile})")
    for col in ("mutant", "area", "verdict", "killed by", "examples", "evidence"):
        table.add_column(col, overflow="fold")
    names = args.mutant or None
    outcomes = selftest.run_all(args.profile, names, on_outcome=lambda o: console.print(
        f"{o.mutant}: {'killed by ' + o.check if o.killed else 'SURVIVED'} ({o.examples} examples)", markup=False))
    for o in outcomes:
        table.add_row(o.mutant, o.area, "[green]killed[/green]" if o.killed else "[red]survived[/red]",
                      escape(o.check), str(o.examples), escape(o.evidence))
    console.print(table)
    killed = sum(o.killed for o in outcomes)
    say(f"mutation score: {killed}/{len(outcomes)} killed ({100 * killed / max(len(outcomes), 1):.0f}%)")
    false_alarms = []
    if not names:
        for variant in mutants.SUMMATION_ORDER_VARIANTS:
            o = selftest.run_one(variant, args.profile)
            say(f"correct variant {variant.name} ({variant.description}): "
                + (f"FALSE ALARM by {o.check}: {o.evidence}" if o.killed else f"not flagged ({o.examples} examples)"))
            false_alarms += [o] if o.killed else []
    return 0 if killed == len(outcomes) and not false_alarms else EXIT_FAIL


def cmd_bench(args) -> int:
    from .report_cli import cmd_bench_report

    return cmd_bench_report(args)


def build_parser() -> argparse.ArgumentParser:
    parser = arguments.Parser(prog="conv-oracle", description=arguments.DESCRIPTION, epilog=arguments.EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"conv-oracle {arguments.version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="implementations, capabilities, error models, load status").set_defaults(func=cmd_list)
    sub.add_parser("env", help="oracle precision settings, versions, BLAS").set_defaults(func=cmd_env)
    check = sub.add_parser("check", help="fuzz one implementation against torch and JAX")
    check.add_argument("impl", help="entry-point name or module:attr")
    check.add_argument("--examples", type=arguments.count(1), help="Hypothesis examples (default: the profile's)")
    check.add_argument("--profile", choices=PROFILES, default="dev",
                       help="Hypothesis profile: ci (derandomized, 60 examples), dev (300), thorough (3000); "
                            "default dev")
    check.add_argument("--case", help="replay one descriptor instead of fuzzing")
    check.add_argument("--seed", type=arguments.seed, help="array seed with --case; Hypothesis seed otherwise")
    check.add_argument("--fill", choices=FILLS, help="value fill with --case (default normal)")
    check.add_argument("--minutes", type=arguments.minutes, help="fuzz for this many minutes instead of a number of examples")
    check.add_argument("--relation", choices=sorted(RELATIONS), help="with --case: replay this oracle-free relation")
    check.add_argument("--no-jax", action="store_true", help="skip the JAX cross-check")
    check.add_argument("--jsonl", type=arguments.output_file,
                       help="stream one JSON line per case to this file (appends)")
    check.add_argument("--resume", type=arguments.input_file,
                       help="reuse the results an interrupted run streamed to this JSONL file")
    check.add_argument("--trusted", action="store_true",
                       help="run the implementation in this process (faster; no protection from hangs or crashes)")
    arguments.add_worker_limits(check)
    check.add_argument("--max-elements", type=arguments.count(1), default=50_000_000,
                       help="work budget of a --case replay, checked before allocation (default 5e7)")
    check.set_defaults(func=cmd_check)
    selftest = sub.add_parser("selftest", help="run the harness against planted bugs (mutation score)")
    selftest.add_argument("--profile", choices=PROFILES, default="ci")
    selftest.add_argument("--mutant", action="append", type=arguments.mutant, help="only this mutant (repeatable)")
    selftest.add_argument("--impl", help="the output mutants of this implementation instead (any plugin)")
    selftest.add_argument("--trusted", action="store_true",
                          help="with --impl: run the plugin and its mutants in this process, not each in a worker")
    arguments.add_worker_limits(selftest, "; with --impl: each mutant's worker")
    selftest.set_defaults(func=cmd_selftest)
    from .report_cli import add_report_parser

    add_report_parser(sub)
    from .train_cli import add_train_parser

    add_train_parser(sub)
    from .campaign_cli import add_campaign_parser

    add_campaign_parser(sub)
    from .precision import add_precision_parser

    add_precision_parser(sub)
    # `bench` options belong to conv_oracle.bench and report_cli; main() routes them there
    sub.add_parser("bench", help="timing benchmark and report (conv-oracle bench --help)", add_help=False)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:          # before a command started (parsing, imports): nothing to save
        print("conv-oracle: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    try:
        config.check_all()
    except config.ConfigError as exc:
        print(f"conv-oracle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if argv[:1] == ["bench"]:
        return cmd_bench(argparse.Namespace(rest=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import isolation
    from .stream import StreamError, StreamWriteError, interrupted_message

    if getattr(args, "trusted", False) and config.summary_fd() is None:
        return isolation.supervise(argv)   # a plugin that ends this process must not end the run with 0
    # a plugin that hangs or exits at import is unavailable, with its cause, said once as the error
    with registry.isolated_imports(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "conv-oracle plugin", RuntimeWarning)
        try:
            code = args.func(args)
        except (SpecError, UsageError, StreamError, StreamWriteError, config.ConfigError,
                registry.UnknownImplementationError, registry.PluginLoadError) as exc:
            print(f"conv-oracle: error: {arguments.cut(str(exc))}", file=sys.stderr)
            code = EXIT_USAGE
        except KeyboardInterrupt:
            print(f"conv-oracle: interrupted; {interrupted_message(argv)}", file=sys.stderr)
            code = 130
    isolation.report_end()
    return code


if __name__ == "__main__":
    sys.exit(main())
