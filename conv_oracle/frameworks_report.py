"""The frameworks report: the conformance report of every available framework candidate,
plus what a finding in someone else's library needs.

``build_frameworks`` is a thin layer over :func:`conv_oracle.report.build_conformance`: the
same campaigns, matrix, statistics and failure sections, with each candidate run in its own
worker process (its declared library settings applied before import, crashes contained).
On top it adds, per candidate, the library's versions and settings as seen in a process of
its own, the machine (CPU model, ISA flags, oneDNN ISA), and per finding its triage
(:mod:`conv_oracle.triage`) and a standalone reproduction script (:mod:`conv_oracle.reproduction`)
written next to the report in ``frameworks/``, run once to confirm that it reproduces.
Rendering reuses the conformance renderers; the extra sections are tables of the same kind.
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import time

from . import registry
from .report import _impl_rows, atomic_write, html_table, md_table, render_html, render_markdown, write_report_files

SCHEMA = "conv-oracle/frameworks/1"
SCRIPTS = "frameworks"                       # directory of the reproduction scripts, under the report's
DEFAULT_CASE_TIMEOUT_S = 300.0               # per case in a candidate's worker: first compiles are slow
REPRODUCTION_TIMEOUT_S = 300.0


# ---- per candidate, in a process of its own ------------------------------------------------------
def describe_candidate(name: str, timeout: float = 300.0) -> dict:
    """Versions and library settings of a candidate, from a fresh interpreter that applies its
    declared environment first (the settings a report states are those its worker had)."""
    try:
        run = subprocess.run([sys.executable, "-m", "conv_oracle.frameworks_report", "--describe", name],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"describing {name} took over {timeout:g} s"}
    try:
        return json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"exit {run.returncode}: {(run.stderr or run.stdout).strip()[-500:]}"}


def _describe_here(name: str) -> dict:
    from .isolation import prepare_library

    entry = registry.entry(name)
    if entry.plugin is None:
        return {"unavailable": entry.error, "install": entry.install}
    plugin = entry.plugin
    prepare_library(plugin)
    out = {"versions": plugin.versions(), "environment": dict(plugin.environment)}
    settings = getattr(plugin, "library_settings", None)
    if settings is not None:
        try:
            out["settings"] = settings()
        except Exception as exc:
            out["settings"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# ---- findings ------------------------------------------------------------------------------------
def _script_name(candidate: str, index: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', candidate)}-{index}.py"


def _machine_line(env: dict) -> str:
    c, d = env.get("cpu") or {}, env.get("onednn") or {}
    return (f"{c.get('model', '?')} [{' '.join(c.get('isa', []))}], oneDNN ISA {d.get('isa') or '?'}, "
            f"{env.get('platform', '?')}")


def triage_findings(name: str, summary, entry: dict, out_dir: str, env: dict, versions: dict,
                    timeout: float = DEFAULT_CASE_TIMEOUT_S) -> None:
    """Triage each failure of ``entry`` (the report's record of ``summary``), write its standalone
    reproduction under ``out_dir/frameworks/`` and run it once; results go into the failure dicts."""
    from . import bounds as B
    from .isolation import IsolatedExecutor
    from .relations import Calls
    from .reproduction import relation_script, script
    from .runner import RELATION
    from .spec import ConvSpec
    from .triage import evidence, triage

    plugin = registry.load(name)
    with IsolatedExecutor(name, timeout=timeout) as executor:
        for index, (result, failure) in enumerate(zip(summary.failures, entry["failures"]), start=1):
            verdict = triage(plugin, result, executor)
            failure["triage"] = verdict.to_dict()
            if not hasattr(plugin, "standalone"):
                failure["reproduction"] = {"script": None, "reproduced": None,
                                           "output": "the plugin has no standalone functions: replay with "
                                                     + result.replay()}
                continue
            spec = ConvSpec.parse(result.descriptor)
            filename = _script_name(name, index)
            path = os.path.join(out_dir, SCRIPTS, filename)
            threads = executor.worker_threads()   # a worker's, started as the campaign's was
            described = dict(kind=result.kind, triage=f"{verdict.category}: {verdict.reason}", versions=versions,
                             environment=_machine_line(env), filename=filename, threads=threads)
            if result.search == RELATION:       # the relation re-checked on the library's own outputs
                text = relation_script(plugin, result.relation, spec, result.seed,
                                       bounds_of=Calls(plugin, executor).bounds, **described)
            else:
                backward = any(v.output != "y" for v in result.verdicts) or (
                    not result.verdicts and not plugin.capabilities.backward_reasons(spec))
                ev = evidence(plugin, spec, result.seed, result.fill, backward, executor)
                try:
                    limits = B.total_bounds(plugin.error_model, ev.ctx, result.fill)
                except B.ModelBoundError:
                    limits = {}
                checked = [v.output for v in result.verdicts] or (list(ev.ctx.outputs) if backward else ["y"])
                text = script(plugin, spec, ev.arrays, backward, {o: limits[o] for o in checked if o in limits},
                              **described)
            atomic_write(path, text)
            os.chmod(path, 0o755)
            failure["reproduction"] = {"script": os.path.join(SCRIPTS, filename), "threads": threads,
                                       **run_reproduction(path, result.kind, timeout, executor.memory_ceiling,
                                                          threads=threads, torch="torch" in getattr(plugin, "requires", ()))}


def run_reproduction(path: str, kind: str = "", timeout: float = REPRODUCTION_TIMEOUT_S,
                     memory_ceiling: int | None = None, *, threads: dict | None = None, torch: bool = False) -> dict:
    """Run a reproduction script in a fresh interpreter under the limits its case had in the
    worker: the case timeout, the worker's resident-memory ceiling (bytes, None: none), the
    worker's threads (``threads``: :func:`conv_oracle.environment.threads` of the worker; None: one
    BLAS/OpenMP thread, the worker's default; ``torch``: the library is torch, its intra-op
    threads count). The script sets its threads itself; they are in its environment too, for a
    script that does not. Reproduced when it exits 1 saying so, when the library kills it (a
    crash reproduces as a signal), or when a hang or memory fault (``kind``) shows as that limit.
    ``limits`` says what the run had, and what of the worker it could not have."""
    from .environment import thread_environment
    from .isolation import ONE_THREAD_ENVIRONMENT, run_limited

    variables = ONE_THREAD_ENVIRONMENT if threads is None else thread_environment(threads, torch=torch)
    torch_threads = (threads or {}).get("torch") if torch else None
    thread_text = ("the worker's threads: " if threads is not None else "one BLAS/OpenMP thread: ") + (
        f"torch intra-op {torch_threads['intra_op']}, " if torch_threads else "") + (
        " ".join(f"{k}={v}" for k, v in sorted(variables.items())) or "no thread variables")
    limits = (f"timeout {timeout:g} s; "
              + (f"resident memory up to {memory_ceiling / 2**30:.2f} GiB (the worker's ceiling)" if memory_ceiling
                 else "no memory limit (the worker had none)")
              + f"; {thread_text}; not replayed: the cases the worker ran before this one "
                "(the script runs this case alone)")
    path = os.path.abspath(path)                  # it runs in its own directory
    run = run_limited([sys.executable, path], timeout=timeout, memory_ceiling=memory_ceiling,
                      cwd=os.path.dirname(path), env=dict(os.environ, **variables))
    if run.stopped == "hang":
        return {"reproduced": kind == "hang", "limits": limits,
                "output": f"the script did not finish within {timeout:g} s" + (" (a hang reproduces)" if kind == "hang"
                                                                                 else "")}
    if run.stopped == "memory-limit":
        return {"reproduced": kind == "memory-limit", "limits": limits,
                "output": f"the script held {run.resident / 2**30:.2f} GiB resident, over the worker's ceiling"}
    reproduced = (run.returncode == 1 and "REPRODUCED" in run.output) or run.returncode < 0
    return {"reproduced": reproduced, "exit": run.returncode, "limits": limits, "output": run.output.strip()[-1500:]}


# ---- building ------------------------------------------------------------------------------------
def build_frameworks(impls: list[str] | None = None, profile: str = "dev", examples: int | None = None,
                     seed: int = 0, *, minutes: float | None = None, out_dir: str = "reports",
                     jax: bool = True, progress: bool | None = None,
                     timeout: float = DEFAULT_CASE_TIMEOUT_S) -> dict:
    """Check every framework candidate (default: all registered, available or not) and return the
    report dict; reproduction scripts are written under ``out_dir/frameworks/`` as it goes."""
    from .report import build_conformance

    names = list(impls) if impls else registry.family_names("framework")
    started = time.perf_counter()
    summaries = {}
    report = build_conformance(names, profile, examples, seed, jax=jax, studies=False, progress=progress,
                               case_timeout=timeout, minutes=minutes,
                               on_summary=lambda name, summary: summaries.__setitem__(name, summary))
    report["schema"] = SCHEMA
    for old in _stale_scripts(out_dir, names):
        os.unlink(old)
    env = report["environment"]
    for name, entry in zip(names, report["implementations"]):   # one entry per name, in order
        entry["library"] = describe_candidate(name) if "matrix" in entry else {}
        if name in summaries and entry.get("failures"):
            triage_findings(name, summaries[name], entry, out_dir, env,
                            entry["library"].get("versions", {}), timeout=timeout)
    report["run"]["minutes"] = minutes
    report["run"]["seconds"] = round(time.perf_counter() - started, 2)
    report["findings"] = findings(report)
    return report


def findings(report: dict) -> list[dict]:
    """One row per failure of every candidate: its triage and its reproduction."""
    return [{"candidate": e["name"], "descriptor": f["descriptor"], "kind": f["kind"],
             "outputs": f["outputs"], **{k: v for k, v in f.get("triage", {}).items()},
             "script": (f.get("reproduction") or {}).get("script"),
             "reproduced": (f.get("reproduction") or {}).get("reproduced"),
             **({"limits": f["reproduction"]["limits"]} if (f.get("reproduction") or {}).get("limits") else {})}
            for e in _impl_rows(report) for f in e["failures"]]


class UpdateError(ValueError):
    """An update that would mix runs a report cannot hold together (one line, exit 2)."""


def check_update(previous: dict, run: dict, cpu: dict | None = None) -> None:
    """Raise UpdateError when a run with ``run``'s profile, examples, seed and minutes (on ``cpu``,
    when given) cannot update ``previous``."""
    same = ("profile", "examples", "seed", "minutes")
    differ = [f"{k} {previous['run'].get(k)!r} (here {run.get(k)!r})" for k in same
              if previous["run"].get(k) != run.get(k)]
    if cpu is not None and previous.get("environment", {}).get("cpu") != cpu:
        differ.append("another CPU")
    if differ:
        raise UpdateError("the report to update was made with " + "; ".join(differ)
                          + ": give the same options, or run the whole report")


def update_frameworks(previous: dict, fresh: dict) -> dict:
    """``report --frameworks --impl NAME --update``: the ``previous`` report with the entries of
    the candidates in ``fresh`` (a run of just those) put in their place, the others kept as they
    were. Both runs must have the same profile, seed and budget, on the same CPU; the run
    section lists each update (candidates, date, seconds)."""
    check_update(previous, fresh["run"], fresh["environment"].get("cpu"))
    from .aggregate import assemble

    fresh_entries = {e["name"]: e for e in fresh["implementations"]}
    entries = [fresh_entries.pop(e["name"], e) for e in previous["implementations"]] + list(fresh_entries.values())
    run = dict(previous["run"], impls=[e["name"] for e in entries])
    run["updates"] = list(previous["run"].get("updates", [])) + [
        {"impls": [e["name"] for e in fresh["implementations"]], "created": fresh["created"],
         "seconds": fresh["run"]["seconds"]}]
    report = assemble(entries, run, previous["environment"], previous.get("studies", {}), previous["created"])
    report["schema"] = SCHEMA
    report["findings"] = findings(report)
    return report


def _stale_scripts(out_dir: str, names: list[str]) -> list[str]:
    """Reproduction scripts of the candidates being checked again (their findings are rebuilt):
    ``NAME-<index>.py`` exactly, so that ``onnxruntime`` does not take ``onnxruntime-noopt-1.py``."""
    stems = {_script_name(n, 0).removesuffix("-0.py") for n in names}
    return sorted(p for p in glob.glob(os.path.join(out_dir, SCRIPTS, "*.py"))
                  if (m := re.fullmatch(r"(.+)-\d+\.py", os.path.basename(p))) and m.group(1) in stems)


# ---- rendering: the conformance renderers, plus the candidates and findings tables ----------------
def _candidate_rows(report: dict) -> list[list]:
    rows = []
    for e in report["implementations"]:
        lib = e.get("library") or {}
        versions = ", ".join(f"{k} {v}" for k, v in (lib.get("versions") or {}).items()) or "-"
        settings = ", ".join(f"{k}={v}" for k, v in {**(lib.get("environment") or {}),
                                                     **(lib.get("settings") or {})}.items()) or "-"
        if "matrix" not in e:
            rows.append([e["name"], versions, "-", "-", e["status"], e.get("error") or "", "-"])
            continue
        result = e["status"]
        rows.append([e["name"], versions, e["capabilities"], e["examples"], result,
                     f"{len(e['failures'])}" + (f" ({', '.join(sorted({f.get('triage', {}).get('category', '?') for f in e['failures']}))})"
                                                if e["failures"] else ""), settings])
    return rows


CANDIDATE_HEADER = ["candidate", "library versions", "capabilities", "examples", "result", "findings",
                    "settings (in its worker)"]
FINDING_HEADER = ["candidate", "descriptor", "kind", "outputs", "triage", "reason", "reproduction", "reproduced"]


def _finding_rows(report: dict) -> list[list]:
    """A finding whose script did not reproduce it says under which limits it ran: "NO" means that."""
    return [[f["candidate"], f["descriptor"], f["kind"], f["outputs"], f.get("category", "-"), f.get("reason", "-"),
             f.get("script") or "-", {True: "yes", False: "NO", None: "-"}[f.get("reproduced")]
             + (f" (under: {f['limits']})" if f.get("reproduced") is False and f.get("limits") else "")]
            for f in report.get("findings", [])]


def _machine_rows(env: dict) -> list[list]:
    c, d = env.get("cpu") or {}, env.get("onednn") or {}
    return [["CPU", c.get("model", "?")], ["ISA flags", " ".join(c.get("isa", [])) or "-"],
            ["torch CPU capability", d.get("cpu_capability", "?")], ["oneDNN", d.get("version") or "?"],
            ["oneDNN ISA", d.get("isa") or "?"],
            ["oneDNN kernels (small conv)", ", ".join(f"{k}: {v}" for k, v in (d.get("kernels") or {}).items()) or "-"]]


def _intro(report: dict) -> str:
    run = report["run"]
    budget = f"{run['minutes']:g} min per candidate" if run.get("minutes") else f"{run['examples_per_impl']} examples per candidate"
    return (f"Framework candidates: the conv2d of real libraries, each run in its own worker with its declared "
            f"library settings. Profile {run['profile']}, seed {run['seed']}, {budget}. Every finding is triaged "
            f"(library bug, precision property, semantic difference, adapter limitation) and has a standalone "
            f"reproduction script (the library and NumPy only, float64 reference) in `{SCRIPTS}/`.")


def render_frameworks_markdown(report: dict) -> str:
    body = render_markdown(report).replace("# conv-oracle conformance report", "# conv-oracle frameworks report", 1)
    extra = ["## Candidates", "", _intro(report), "", md_table(CANDIDATE_HEADER, _candidate_rows(report)), "",
             "## Findings, triaged", ""]
    extra += [md_table(FINDING_HEADER, _finding_rows(report)) if report.get("findings") else "None.", ""]
    extra += ["## Machine", "", md_table(["what", "value"], _machine_rows(report["environment"])), ""]
    marker = "## Implementations"
    return body.replace(marker, "\n".join(extra) + "\n" + marker, 1)


def render_frameworks_html(report: dict) -> str:
    body = render_html(report).replace("conv-oracle conformance report", "conv-oracle frameworks report")
    classes = [[None, None, None, None, "pass" if r[4] == "pass" else "fail", None, None]
               for r in _candidate_rows(report)]
    extra = [f"<h2 id=\"candidates\">Candidates</h2><p>{_intro(report)}</p>",
             html_table(CANDIDATE_HEADER, _candidate_rows(report), classes),
             "<h2 id=\"findings\">Findings, triaged</h2>",
             html_table(FINDING_HEADER, _finding_rows(report)) if report.get("findings") else "<p>None.</p>",
             "<h2 id=\"machine\">Machine</h2>", html_table(["what", "value"], _machine_rows(report["environment"]))]
    marker = "<h2 id=\"implementations\">"
    return body.replace(marker, "\n".join(extra) + "\n" + marker, 1)


def write_frameworks(report: dict, out_dir: str = "reports") -> dict[str, str]:
    texts = {"json": json.dumps(report, indent=1, allow_nan=False) + "\n",
             "md": render_frameworks_markdown(report), "html": render_frameworks_html(report)}
    return write_report_files("frameworks", texts, out_dir)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--describe"] and len(sys.argv) == 3:
        print(json.dumps(_describe_here(sys.argv[2]), default=str))
        sys.exit(0)
    print("usage: python -m conv_oracle.frameworks_report --describe NAME", file=sys.stderr)
    sys.exit(2)
