"""The frameworks report: each finding triaged, with a standalone script that reproduces it;
checked on planted "libraries" whose faults are known, and on a real candidate."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conv_oracle.frameworks_report import build_frameworks, write_frameworks

HERE = Path(__file__).parent
PLANTED = str(HERE / "frameworks_files" / "planted.py")
EXPECTED = {
    "BFloat16Inputs": ("precision property", "inputs rounded to"),   # the strictest looser model the shrunk case meets
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
    assert data["environment"]["cpu"]["model"] and "isa" in data["environment"]["cpu"]
    md = Path(paths["md"]).read_text()
    for heading in ("## Candidates", "## Findings, triaged", "## Machine", "## Feature matrix",
                    "## Error against the bound", "## Failures"):
        assert heading in md
    html = Path(paths["html"]).read_text()
    assert "frameworks report" in html and "Findings, triaged" in html and "adapter limitation" in html


def test_real_candidate_report_in_the_ci_profile(tmp_path):
    """A real library, fuzzed in its worker: the report says pass, or triages and reproduces each finding."""
    report = build_frameworks(["scipy-correlate2d", "onnxruntime"], profile="ci", examples=20, out_dir=str(tmp_path),
                              jax=False, progress=False)
    for e in report["implementations"]:
        assert e["status"] in ("pass", "fail"), e
        assert e["library"]["versions"], e["library"]
        for f in e["failures"]:
            assert f["triage"]["category"] and f["reproduction"]["reproduced"] is True, f
