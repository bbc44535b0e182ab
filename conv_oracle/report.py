"""The conformance report: running it. Every implementation goes through the engine
(:func:`conv_oracle.engine.run_campaign`, one JAX worker shared by all), every study runs, and
everything becomes records; the report is then built from those records alone
(:func:`conv_oracle.aggregate.conformance_from_records`), exactly as
``conv-oracle report --from-jsonl`` rebuilds it later.

The other jobs live next door: :mod:`conv_oracle.aggregate` (records -> report data),
:mod:`conv_oracle.report_studies` (the studies), :mod:`conv_oracle.report_sections` and
:mod:`conv_oracle.render` (one section model rendered as Markdown and HTML). The structure of
the JSON is ``conv_oracle/schemas/conformance.schema.json``, documented in
``docs/report-schema.md``. A plugin that fails to load, or a campaign that crashes, becomes an
entry with its cause; it never stops the report. Verdicts are deterministic given the profile
and seed (:func:`verdicts` extracts them); wall-clock seconds are kept apart from them.
"""
from __future__ import annotations

import json
import os
import time
import traceback
import warnings

from .aggregate import FEATURES, OUTPUTS, SCHEMA, STATE_TEXT, STATES, conformance_from_records, verdicts  # noqa: F401
from .profiles import import_independent_draws
from .strategies import describe_draws
from .render import CSS, _h, _plt, _svg, atomic_write, environment_lines, fmt, html_table, md_table, write_report_files  # noqa: F401
from .report_sections import _impl_rows, render_html, render_markdown  # noqa: F401
from .report_studies import STUDY_ADAPTERS, STUDY_KEYS, run_study  # noqa: F401


def _progress(enabled: bool | None):
    """A rich bar on a terminal, an occasional plain line otherwise (``progress.display``)."""
    from .progress import display

    return display(enabled)


def plugin_record(name: str, entry) -> dict:
    """The ``plugin`` record of a report: what the implementation declares, under the name it
    was asked for (the name used everywhere: tables, failures, replay lines)."""
    p = entry.plugin
    caps = p.capabilities
    return {"record": "plugin", "name": name, "target": entry.target, "description": p.description,
            "layout": p.layout, "capabilities": caps.summary(), "declared": {
                "dtypes": list(caps.dtypes), "max_stride": caps.max_stride, "max_dilation": caps.max_dilation,
                "asymmetric_padding": caps.asymmetric_padding, "groups": caps.groups, "bias": caps.bias,
                "backward": caps.backward, "kernel_min": caps.kernel_min, "kernel_max": caps.kernel_max,
                "max_elements": caps.max_elements},
            "error_model": p.error_model.describe(),
            "backward_method": p.backward_method or ("yes" if caps.backward else "no")}


def _unavailable(name: str, target: str, error: str, status: str = "unavailable", **more) -> dict:
    return {"record": "plugin", "name": name, "target": target, "status": status, "error": error, **more}


class _Records:
    """Collects the records of a report run, and streams them to a JSONL file when asked."""

    def __init__(self, stream):
        self.records: list[dict] = []
        self.stream = stream

    def add(self, record: dict) -> None:
        self.records.append(record)
        self.stream.write_record(record)

    def case(self, result) -> None:
        self.add(result.to_dict())


def build_conformance(impls: list[str] | None = None, profile: str = "ci", examples: int | None = None,
                      seed: int = 0, *, jax: bool = True, studies: bool | dict = True,
                      progress: bool | None = None, jsonl: str | None = None, minutes: float | None = None,
                      trusted: bool = False, case_timeout: float | None = None, on_summary=None) -> dict:
    """Run every implementation named (default: all registered algorithms) through the engine
    and return the report dict, built from the run's records.

    ``studies``: True runs every study with its defaults, False none, a dict maps study keys
    to keyword arguments (studies missing from it are skipped). ``progress``: None shows a
    rich progress bar only on a terminal. ``jsonl``: also write every record to this file
    (replaced), from which ``report --from-jsonl`` rebuilds the same report. ``minutes``: each
    implementation fuzzes for this long instead of a number of examples. Each plugin runs in an
    isolated worker (a hang, a crash or the memory limit ends its campaign at that case, and the
    report goes on to the next plugin) unless ``trusted``; ``case_timeout``: its seconds per case
    (default: the worker's). ``on_summary(name, summary)``: each campaign's summary, its failing
    case records included (the frameworks report triages them)."""
    from . import environment, profiles, registry
    from .engine import run_campaign
    from .stream import ResultStream

    profiles.load(profile)  # validates the name up front
    names = list(impls) if impls else registry.family_names("")
    started = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    worker, jax_settings, jax_error = None, None, None
    if jax:
        from .oracles.worker import JaxWorker
        try:
            worker = JaxWorker()
            jax_settings = worker.settings()
        except Exception as exc:  # no JAX: report without the cross-check, and say so
            jax_error = f"{type(exc).__name__}: {exc}"
            if worker is not None:
                worker.close()
            worker = None
    expected = examples or profiles.EXAMPLES[profile]
    if jsonl:
        os.makedirs(os.path.dirname(os.path.abspath(jsonl)), exist_ok=True)
        open(jsonl, "w").close()
    with ResultStream.open(jsonl) as stream:
        out = _Records(stream)
        try:
            with import_independent_draws(), _progress(progress) as bar:
                for name in names:
                    _run_one(name, out, bar, profile, examples, seed, worker, expected, minutes, run_campaign,
                             registry, trusted, case_timeout, on_summary)
        finally:
            if worker is not None:
                worker.close()
        if studies:
            for key in STUDY_KEYS:
                if studies is True or key in studies:
                    overrides = dict(studies.get(key) or {}) if isinstance(studies, dict) else {}
                    if key in ("output_mutants", "precision"):   # the report's implementations
                        overrides.setdefault("impls", [r["name"] for r in out.records if r.get("record") == "plugin"
                                                       and "status" not in r])
                    out.add({"record": "study", "key": key, "data": run_study(key, profile, overrides)})
        env = environment.describe(jax_settings)
        if jax_error:
            env["jax_oracle_error"] = jax_error
        out.add({"record": "report", "schema": SCHEMA, "created": created, "profile": profile, "examples": examples,
                 "examples_per_impl": 0 if minutes else expected, "minutes": minutes, "seed": seed, "impls": names,
                 "jax_cross_check": jax_settings is not None, "seconds": round(time.perf_counter() - started, 2),
                 "spec_families": describe_draws(profile), "environment": env})
    return conformance_from_records(json.loads(json.dumps(out.records, default=float)))


def _run_one(name, out, bar, profile, examples, seed, worker, expected, minutes, run_campaign, registry,
             trusted, case_timeout, on_summary) -> None:
    from .isolation import executor_for

    task = bar.add_task(f"{name:<14}", total=None if minutes else int(expected * 3), note="loading")  # --minutes: no count to reach
    try:
        with warnings.catch_warnings():  # listed as unavailable in the report instead
            warnings.simplefilter("ignore", RuntimeWarning)
            entry = registry.entry(name)
    except Exception as exc:  # unknown name
        out.add(_unavailable(name, name, f"{type(exc).__name__}: {exc}"))
        bar.update(task, note="[red]unknown[/red]")
        return
    if entry.plugin is None:
        out.add(_unavailable(name, entry.target, entry.error))
        bar.update(task, note="[red]unavailable[/red]")
        return
    declared = plugin_record(name, entry)
    entry.plugin.registry_name = name        # one name everywhere: the one it was asked by
    fails = {"n": 0}

    def on_result(result):
        fails["n"] += result.status == "fail"
        bar.update(task, advance=1, note=f"{fails['n']} failing cases" if fails["n"] else "")
        out.case(result)

    held = []
    try:   # no example database: the verdicts depend on profile and seed alone
        with executor_for(entry.plugin, trusted=trusted, timeout=case_timeout) as executor:
            summary = run_campaign(entry.plugin, profile=profile, examples=examples, minutes=minutes, seed=seed,
                                   jax_worker=worker, on_result=on_result, on_record=held.append, database=None,
                                   executor=executor)
    except Exception as exc:  # the harness itself crashed on this plugin: record, go on
        out.records[:] = [r for r in out.records if r.get("impl") != name]
        out.add({**declared, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                 "traceback": "".join(traceback.format_exc(limit=-6))})
        bar.update(task, note="[red]harness error[/red]")
        return
    if on_summary is not None:
        on_summary(name, summary)
    out.add(declared)
    for record in held:
        out.add(record)
    bar.update(task, total=len(summary.results), completed=len(summary.results),
               note=f"[red]{len(summary.findings)} failures[/red]" if summary.findings else f"[green]{summary.verdict}")


def build_from_records(records: list[dict]) -> dict:
    """``conv-oracle report --from-jsonl``: the report of recorded runs, no plugin or oracle called."""
    return conformance_from_records(records)


def write_conformance(report: dict, out_dir: str = "reports") -> dict[str, str]:
    """Render all three formats first, then replace each file atomically; returns the paths."""
    texts = {"json": json.dumps(report, indent=1, sort_keys=False, allow_nan=False) + "\n",
             "md": render_markdown(report), "html": render_html(report)}
    return write_report_files("conformance", texts, out_dir)
