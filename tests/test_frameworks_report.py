"""The frameworks report: each finding triaged, with a standalone script that reproduces it;
checked on planted "libraries" whose faults are known, and on a real candidate."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conv_oracle import schema_doc
from conv_oracle.frameworks_report import build_frameworks, write_frameworks

HERE = Path(__file__).parent
PLANTED = str(HERE / "frameworks_files" / "planted.py")
EXPECTED = {
    "BFloat16Inputs": ("precision property", "-inputs"),   # the strictest looser model met: tf32- or bf16-inputs
    "DropsBias": ("library bug", ""),
    "CropsOutput": ("semantic difference", ""),
    "NotImplementedDilation": ("adapter limitation", ""),
}


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    names = [f"{PLANTED}:{attr}" for attr in EXPECTED]
    report = build_frameworks(names, profile="ci", examples=12, out_dir=str(out), jax=False, progress=False)
    return report, out, write_frameworks(report, str(out))


def test_every_planted_fault_is_triaged_as_what_it_is(planted_report):
    report, out, _ = planted_report
    for attr, (category, model) in EXPECTED.items():
        entry = next(e for e in report["implementations"] if e["target"].endswith(attr))
        assert entry["status"] == "fail" and entry["failures"], (attr, entry["status"])
        for failure in entry["failures"]:
            assert failure["triage"]["category"] == category, (attr, failure["triage"])
            assert model in failure["triage"]["model"]


def test_each_finding_has_a_standalone_script_that_reproduces_it(planted_report):
    report, out, _ = planted_report
    assert report["findings"] and all(f["reproduced"] is True for f in report["findings"]), report["findings"]
    for finding in report["findings"]:
        script = out / finding["script"]
        text = script.read_text()
        assert "conv_oracle" not in text.replace("conv-oracle", "")   # no harness import, by any name
        run = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=120,
                             cwd="/", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        assert run.returncode == 1 and "REPRODUCED" in run.stdout, run.stdout + run.stderr


def test_report_files_hold_versions_machine_and_triage(planted_report):
    report, out, paths = planted_report
    data = json.loads(Path(paths["json"]).read_text())
    assert data["schema"] == "conv-oracle/frameworks/1"
    schema_doc.validate("frameworks", data)
    assert data["environment"]["cpu"]["model"] and "isa" in data["environment"]["cpu"]
    md = Path(paths["md"]).read_text()
    for heading in ("## Candidates", "## Findings, triaged", "## Machine", "## Feature matrix",
                    "## Error against the bound", "## Failures"):
        assert heading in md
    html = Path(paths["html"]).read_text()
    assert "frameworks report" in html and "Findings, triaged" in html and "adapter limitation" in html


def test_a_crash_is_rerun_alone_and_a_script_that_does_not_reproduce_says_under_which_limits(tmp_path):
    """A crash that recurs when its case runs alone in a fresh worker reproduces in its script (a
    signal); one that needs the worker's history (the sixth call in a process) does not, and the
    triage and the report say so, with the limits the script ran under."""
    names = [f"{PLANTED}:Segfaults", f"{PLANTED}:DiesAfterFiveCalls"]
    report = build_frameworks(names, profile="ci", examples=12, out_dir=str(tmp_path), jax=False, progress=False)
    always, later = (next(f for f in report["findings"] if f["candidate"] == n) for n in names)
    assert always["kind"] == later["kind"] == "crashed" and always["category"] == "library bug"
    assert "recurred in a fresh worker running this case alone" in always["reason"], always
    assert always["reproduced"] is True, always
    assert "[the worker's case 6 since it started]" in later["reason"], later
    assert "NOT reproduced in a fresh worker running this case alone (it answered)" in later["reason"], later
    assert later["reproduced"] is False and "resident memory up to" in later["limits"], later
    assert "not replayed: the cases the worker ran before this one" in later["limits"]
    md = Path(write_frameworks(report, str(tmp_path))["md"]).read_text()
    assert "| NO (under: timeout 300 s; resident memory up to" in md


def test_update_replaces_the_rerun_candidates_and_keeps_the_others(planted_report, tmp_path):
    from conv_oracle.frameworks_report import UpdateError, update_frameworks

    previous, _, _ = planted_report
    name = f"{PLANTED}:CropsOutput"
    fresh = build_frameworks([name], profile="ci", examples=12, out_dir=str(tmp_path), jax=False, progress=False)
    updated = update_frameworks(previous, fresh)
    assert [e["name"] for e in updated["implementations"]] == [e["name"] for e in previous["implementations"]]
    for old, new in zip(previous["implementations"], updated["implementations"]):
        assert new == (fresh["implementations"][0] if old["name"] == name else old)
    assert updated["run"]["updates"] == [{"impls": [name], "created": fresh["created"], "seconds": fresh["run"]["seconds"]}]
    assert len(updated["findings"]) == len(previous["findings"]) and updated["summary"] == previous["summary"]
    with pytest.raises(UpdateError, match="seed 0 \\(here 1\\)"):
        update_frameworks(previous, {**fresh, "run": {**fresh["run"], "seed": 1}})


def test_update_with_other_options_is_refused_before_any_run(planted_report):
    _, out, _ = planted_report
    run = subprocess.run([sys.executable, "-m", "conv_oracle", "report", "--frameworks", "--impl", "scipy-correlate2d",
                          "--update", "--out", str(out), "--profile", "dev"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "--update: the report to update was made with profile 'ci' (here 'dev')" in run.stderr


def test_the_frameworks_schema_extends_the_conformance_schema_and_can_fail(planted_report):
    report, out, paths = planted_report
    data = json.loads(Path(paths["json"]).read_text())
    failing = next(e for e in data["implementations"] if e.get("failures"))
    breakages = [
        lambda d: d.__setitem__("schema", "conv-oracle/conformance/1"),
        lambda d: d["summary"].__setitem__("mystery", 1),                       # a conformance part, by $ref
        lambda d: next(e for e in d["implementations"] if e["name"] == failing["name"])["failures"][0]
                  .pop("triage"),                                               # a finding must be triaged
        lambda d: next(e for e in d["implementations"] if e["name"] == failing["name"])["failures"][0]
                  .__setitem__("mystery", 1),                                   # the extended failure stays closed
        lambda d: d["findings"][0].__setitem__("category", "probably fine"),
    ]
    for breaks in breakages:
        bad = json.loads(json.dumps(data))
        breaks(bad)
        with pytest.raises(jsonschema.ValidationError):
            schema_doc.validate("frameworks", bad)
    with pytest.raises(jsonschema.ValidationError):                            # and it is not a conformance report
        schema_doc.validate("conformance", data)


def test_real_candidate_report_in_the_ci_profile(tmp_path):
    """A real library, fuzzed in its worker: the report says pass, or triages and reproduces each finding."""
    report = build_frameworks(["scipy-correlate2d", "onnxruntime"], profile="ci", examples=20, out_dir=str(tmp_path),
                              jax=False, progress=False)
    schema_doc.validate("frameworks", json.loads(Path(write_frameworks(report, str(tmp_path))["json"]).read_text()))
    for e in report["implementations"]:
        assert e["status"] in ("pass", "fail"), e
        assert e["library"]["versions"], e["library"]
        for f in e["failures"]:
            assert f["triage"]["category"] and f["reproduction"]["reproduced"] is True, f


def test_stale_scripts_are_the_candidates_own_not_a_prefix_namesake(tmp_path):
    from conv_oracle.frameworks_report import SCRIPTS, _stale_scripts

    (tmp_path / SCRIPTS).mkdir()
    for name in ("onnxruntime-1.py", "onnxruntime-12.py", "onnxruntime-noopt-1.py", "onnxruntime-notes.py"):
        (tmp_path / SCRIPTS / name).write_text("")
    assert [Path(p).name for p in _stale_scripts(str(tmp_path), ["onnxruntime"])] == ["onnxruntime-1.py",
                                                                                     "onnxruntime-12.py"]
    assert len(_stale_scripts(str(tmp_path), ["onnxruntime", "onnxruntime-noopt"])) == 3


def test_a_reproduction_runs_under_the_workers_limits_from_a_relative_path(tmp_path, monkeypatch):
    from conv_oracle.frameworks_report import run_reproduction

    monkeypatch.chdir(tmp_path)                   # `report --out reports`: the scripts' paths are relative
    (tmp_path / "frameworks").mkdir()
    scripts = {"shows.py": "import os, sys\nprint('threads', os.environ['OMP_NUM_THREADS'])\nprint('REPRODUCED: x')\n"
                           "sys.exit(1)\n",
               "hoards.py": "import time\nb = bytearray(2**30)\nb[::4096] = b'x' * len(b[::4096])\ntime.sleep(60)\n",
               "sleeps.py": "import time\ntime.sleep(60)\n"}
    for name, text in scripts.items():
        (tmp_path / "frameworks" / name).write_text(text)
    shown = run_reproduction("frameworks/shows.py", "bound", 30, 2**30)
    assert shown["reproduced"] is True and "threads 1" in shown["output"], shown
    assert "timeout 30 s; resident memory up to 1.00 GiB (the worker's ceiling); one BLAS/OpenMP thread" in shown["limits"]
    hoarded = run_reproduction("frameworks/hoards.py", "memory-limit", 30, 256 * 2**20)
    assert hoarded["reproduced"] is True and "over the worker's ceiling" in hoarded["output"], hoarded
    assert run_reproduction("frameworks/hoards.py", "bound", 30, 256 * 2**20)["reproduced"] is False
    slept = run_reproduction("frameworks/sleeps.py", "hang", 1, None)
    assert slept["reproduced"] is True and "no memory limit (the worker had none)" in slept["limits"], slept


def test_frameworks_html_renders_in_headless_chromium(planted_report, chromium, tmp_path):
    """The frameworks HTML as a browser shows it: its own sections (candidates, triaged findings,
    machine) and then every section, table cell and plot of the conformance section model."""
    from conv_oracle import frameworks_report as F
    from conv_oracle.report_sections import sections

    report, out, paths = planted_report
    data = json.loads(Path(paths["json"]).read_text())
    page = chromium.render(paths["html"])
    own = [[F.CANDIDATE_HEADER, *F._candidate_rows(data)], [F.FINDING_HEADER, *F._finding_rows(data)],
           [["what", "value"], *F._machine_rows(data["environment"])]]
    page.assert_shows(sections(data), before=["Candidates", "Findings, triaged", "Machine"],
                      tables_before=[[[str(c).strip() for c in row] for row in t] for t in own])
    categories = {row[4] for row in page.tables[1][1:]}
    assert categories == {category for category, _ in EXPECTED.values()}, categories
    pixels, console = chromium.screenshot(paths["html"], tmp_path / "frameworks.png")
    assert not console and pixels.std() > 10 and (pixels < 200).mean() > 0.01, "blank page or no plot"


def _relation_script(tmp_path, target: str, relation: str, descriptor: str, seed: int = 0, threads=None):
    """A relation finding's standalone script, written as the frameworks report writes it, and its run."""
    from conv_oracle import registry
    from conv_oracle.engine import relation_case
    from conv_oracle.relations import Calls
    from conv_oracle.reproduction import relation_script
    from conv_oracle.spec import ConvSpec

    plugin, spec = registry.load(target), ConvSpec.parse(descriptor)
    record = relation_case(plugin, relation, spec, seed)
    path = tmp_path / "relation.py"
    path.write_text(relation_script(plugin, relation, spec, seed, bounds_of=Calls(plugin).bounds, kind=record.kind
                                    or "pass", triage="-", versions={"numpy": "any"}, environment="here",
                                    filename=path.name, threads=threads))
    run = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=300, cwd="/",
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert "conv_oracle" not in path.read_text().replace("conv-oracle", "")       # standalone
    return record, run


def test_a_relation_findings_script_rechecks_the_relation_and_reproduces_it(tmp_path):
    """A real relation failure (a planted library that leaks one image into the next): the harness's
    batch relation fails, and the script, without conv-oracle, re-checks that relation on the
    library's own outputs and reproduces it (it compares no float64 reference)."""
    record, run = _relation_script(tmp_path, f"{PLANTED}:MixesBatch", "batch", "n3c2h6w6f2k3 f32")
    assert record.kind == "relation: batch" and not record.ok, record.message()
    assert run.returncode == 1 and "REPRODUCED: batch independence:" in run.stdout, run.stdout + run.stderr
    assert "reference64" not in (tmp_path / "relation.py").read_text()


@pytest.mark.parametrize("target, relation, descriptor", [
    (f"{PLANTED}:MixesBatch", "groups", "n1c4h6w6f4k3g2 f32"),        # N = 1: nothing leaks
    (f"{PLANTED}:NoFault", "batch", "n3c2h6w6f2k3 f32"),
    (f"{PLANTED}:NoFault", "dilation", "n2c2h9w9f2k3d2 f32"),
    ("torch-eager", "adjoint", "n2c3h6w6f2k3b1 f32"),
    ("torch-eager", "homogeneity", "n2c3h6w6f2k3b1 f32"),
    ("torch-eager", "stride", "n2c3h9w9f2k3s2 f32"),
])
def test_a_relation_script_of_a_holding_relation_does_not_reproduce(tmp_path, target, relation, descriptor):
    """The same scripts on relations that hold: every relation's sides run standalone and agree."""
    record, run = _relation_script(tmp_path, target, relation, descriptor)
    assert record.ok, record.message()
    assert run.returncode == 0 and "not reproduced" in run.stdout, run.stdout + run.stderr


def test_a_float64_conv_computed_in_float32_is_triaged_as_float32_accumulation():
    """The ladder's float32-accumulation step, between the float64 direct sum and TF32 inputs: a
    float64 case summed in float32 is that precision property (it used to read 'tf32-inputs')."""
    from conv_oracle import registry
    from conv_oracle.precision import standard_models
    from conv_oracle.runner import run_case
    from conv_oracle.spec import ConvSpec
    from conv_oracle.triage import PRECISION, triage

    keys = [m.key for m in standard_models(flushed=True, dtype="float64")]
    assert keys.index("float32") < keys.index("f32-accumulation") < keys.index("tf32-inputs")
    assert "f32-accumulation" not in [m.key for m in standard_models(flushed=True, dtype="float32")]
    plugin = registry.load(f"{PLANTED}:Float32Arithmetic")
    result = run_case(plugin, ConvSpec.parse("n2c8h6w6f3k3b1 f64"), 0, "normal")
    assert result.kind == "bound", result.message()
    verdict = triage(plugin, result)
    assert (verdict.category, verdict.model) == (PRECISION, "f32-accumulation"), verdict



def test_a_finding_made_with_two_threads_is_rerun_with_two(tmp_path):
    """The worker records the threads its cases ran with (a plugin's setup set torch to two), the
    finding holds them, and its script re-runs with them and says so: under one thread (what every
    script ran with before) this fault does not show."""
    report = build_frameworks([f"{PLANTED}:WrongWithTwoThreads"], profile="ci", examples=6, out_dir=str(tmp_path),
                              jax=False, progress=False)
    (failure, *_), = [e["failures"] for e in report["implementations"]]
    reproduction = failure["reproduction"]
    assert reproduction["threads"]["torch"]["intra_op"] == 2, reproduction["threads"]
    assert reproduction["reproduced"] is True, reproduction
    assert "threads: torch intra-op threads 2 (the finding's: 2); " in reproduction["output"], reproduction["output"]
    assert "OMP_NUM_THREADS=2" in reproduction["output"] and "OPENBLAS_NUM_THREADS=1" in reproduction["output"]
    assert "the worker's threads: torch intra-op 2, " in reproduction["limits"], reproduction["limits"]
    schema_doc.validate("frameworks", json.loads(json.dumps(report)))
    one_thread = subprocess.run([sys.executable, str(tmp_path / reproduction["script"])], capture_output=True,
                                text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=""))
    assert one_thread.returncode == 1 and "torch intra-op threads 2" in one_thread.stdout, \
        one_thread.stdout + one_thread.stderr             # launched with one thread, it sets its own


def test_a_relation_script_runs_with_the_threads_of_its_finding(tmp_path):
    from conv_oracle.frameworks_report import run_reproduction

    threads = {"cpus": 2, "torch": {"intra_op": 2, "inter_op": 1}, "pools": [], "variables": {}}
    record, run = _relation_script(tmp_path, "torch-eager", "homogeneity", "n2c3h6w6f2k3b1 f32", threads=threads)
    assert run.returncode == 0 and "threads: torch intra-op threads 2 (the finding's: 2); OMP_NUM_THREADS=2" \
        in run.stdout, run.stdout + run.stderr
    rerun = run_reproduction(str(tmp_path / "relation.py"), "relation: homogeneity", 120, threads=threads, torch=True)
    assert "the worker's threads: torch intra-op 2, OMP_NUM_THREADS=2" in rerun["limits"], rerun
    assert "torch intra-op threads 2" in rerun["output"] and rerun["reproduced"] is False, rerun


def test_an_nhwc_candidates_script_hands_it_nhwc_arrays(tmp_path):
    """A script's arrays are NCHW/OIHW; an NHWC candidate (TensorFlow's layout) gets them as the harness
    hands them over, NHWC x / HWIO w, and its NHWC y is judged in NCHW: the planted bias fault reproduces
    as a bound failure (not a shape mismatch), and the same library without the fault does not."""
    from conv_oracle import bounds as B
    from conv_oracle import registry
    from conv_oracle.reproduction import script
    from conv_oracle.spec import ConvSpec
    from conv_oracle.triage import evidence

    report = build_frameworks([f"{PLANTED}:NHWCDropsBias"], profile="ci", examples=12, out_dir=str(tmp_path),
                              jax=False, progress=False)
    (entry,) = report["implementations"]
    assert entry["status"] == "fail" and entry["failures"], entry["status"]
    for failure in entry["failures"]:
        reproduction = failure["reproduction"]
        assert reproduction["reproduced"] is True, reproduction
        assert "elements over the bound" in reproduction["output"], reproduction["output"]
        assert "LAYOUT = 'NHWC'" in (tmp_path / reproduction["script"]).read_text()

    plugin, spec = registry.load(f"{PLANTED}:NHWCNoFault"), ConvSpec.parse("n2c3h5w7f4k3p1b1 f32")
    ev = evidence(plugin, spec, 0, "normal", False)
    path = tmp_path / "nhwc_no_fault.py"
    path.write_text(script(plugin, spec, ev.arrays, False, {"y": B.total_bounds(plugin.error_model, ev.ctx,
                                                                                 "normal")["y"]},
                           kind="-", triage="-", versions={"numpy": "any"}, environment="here", filename=path.name))
    run = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120, cwd="/",
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0 and "not reproduced" in run.stdout, run.stdout + run.stderr


def test_an_nhwc_candidates_relation_script_holds_where_the_relation_does(tmp_path):
    record, run = _relation_script(tmp_path, f"{PLANTED}:NHWCNoFault", "batch", "n3c2h6w6f2k3 f32")
    assert record.ok, record.message()
    assert run.returncode == 0 and "not reproduced" in run.stdout, run.stdout + run.stderr
