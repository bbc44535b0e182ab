"""The conformance and timing reports, on real small runs (real plugins, real oracles).

Two deliberately wrong plugins live here, loaded by the report as ``module:attr`` like any
third-party plugin: one forgets the bias (a numerical failure the report must list with a
replay command), one declares no dilation yet answers dilated cases (an "answered" cell).
"""
import json
import os

import numpy as np
import pytest

from conv_oracle import report as R
from conv_oracle import registry, report_cli
from conv_oracle.plugin import Capabilities
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec
from impls.loop import LoopConv

class ForgetsBias(LoopConv):
    name = "test-forgets-bias"
    description = "loop, but the forward drops the bias"

    def forward(self, x, w, b, spec):
        y = super().forward(x, w, b, spec)
        return y if b is None else y - b[None, :, None, None]


class AnswersDilation(LoopConv):
    name = "test-answers-dilation"
    description = "loop declaring no dilation (and no backward) but answering dilated cases anyway"
    capabilities = Capabilities(dtypes=("float32", "float64"), max_dilation=1, backward=False,
                                max_elements=2_000_000)

    def check_supported(self, spec, *, backward=False):
        if spec.dtype not in self.capabilities.dtypes:        # refuses float16, "forgets" dilation
            super().check_supported(spec, backward=backward)


FORGETS_BIAS, ANSWERS_DILATION = f"{__name__}:ForgetsBias", f"{__name__}:AnswersDilation"
IMPLS = ["loop", FORGETS_BIAS, ANSWERS_DILATION, "no_such_module_xyz:Plugin"]
EXAMPLES = 20
SMALL_STUDIES = {"output_mutants": {"impls": ["loop"], "mutants": ["drop_bias", "dw_over_n"]},
                 "winograd_accuracy": {"channels": (16,), "tiles": (2, 4)},
                 "fft_tightness": {"count": 8, "layers": (), "half_scaled": ("n1c4h32w32f4k9p4b0 f32",)},
                 "precision": {"impls": ["loop"], "dtypes": ("bfloat16",)}}


@pytest.fixture(scope="module")
def records_path(tmp_path_factory):
    return str(tmp_path_factory.mktemp("records") / "conformance.jsonl")


@pytest.fixture(scope="module")
def report(records_path):
    return R.build_conformance(IMPLS, "ci", EXAMPLES, seed=0, studies=SMALL_STUDIES, progress=False,
                               jsonl=records_path)


@pytest.fixture(scope="module")
def written(report, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return R.write_conformance(report, str(out))


def by_name(report, name):
    return next(e for e in report["implementations"] if e["name"] == name)


def _strict_json(path):
    def no_constant(name):
        raise ValueError(f"non-standard JSON constant {name}")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_constant=no_constant)


def test_json_follows_the_documented_structure(written, report):
    data = _strict_json(written["json"])
    assert data["schema"] == "conv-oracle/conformance/1"
    for key in ("created", "run", "environment", "outputs", "features", "states", "implementations",
                "disagreements", "studies", "summary"):
        assert key in data, key
    assert data["outputs"] == ["y", "dx", "dw", "db"]
    features = [f["id"] for f in data["features"]]
    assert {"stride", "asymmetric_padding", "dilation", "groups", "float32", "float64", "float16", "bias"} <= set(features)
    states = {s["id"] for s in data["states"]}
    assert states == {"pass", "fail", "refused", "answered", "not-exercised"}
    assert data["run"]["profile"] == "ci" and data["run"]["seed"] == 0
    assert data["environment"]["numpy"] == np.__version__ and data["environment"]["blas"] is not None
    assert data["environment"]["jax_oracle"]["jax_enable_x64"] is True
    for e in data["implementations"]:
        assert e["status"] in ("pass", "fail", "unavailable", "error")
        if e["status"] in ("unavailable", "error"):
            assert e["error"]
            continue
        assert e["examples"] >= 1 and e["cases"] >= e["examples"]
        for o in data["outputs"]:
            for f in features:
                cell = e["matrix"][o][f]
                assert cell["state"] in states
                assert all(isinstance(cell[k], int) for k in ("pass", "fail", "refused", "answered"))
        for o, s in e["errors"].items():
            assert o in data["outputs"] and s["checked"] >= s["failed"] >= 0
            assert s["max_ratio"] is None or s["max_ratio"] == "inf" or s["max_ratio"] >= s["median_ratio"]
        for f in e["failures"]:
            ConvSpec.parse(f["descriptor"])
            assert f["replay"].startswith("conv-oracle check ")
    assert data["summary"]["implementations"] == len(IMPLS)
    assert data == json.loads(json.dumps(report))  # what was written is the report


def test_written_reports_and_records_follow_their_schemas(written, records_path):
    from conv_oracle import schema_doc
    from conv_oracle.stream import read

    schema_doc.validate("conformance", _strict_json(written["json"]))
    records = read(records_path)
    assert {r["record"] for r in records} == {"case", "failure", "run", "plugin", "study", "report"}
    for r in records:
        schema_doc.validate("records", json.loads(json.dumps(r)))


def test_the_schema_rejects_an_undocumented_field(report):
    import jsonschema

    from conv_oracle import schema_doc

    bad = json.loads(json.dumps(report))
    bad["summary"]["mutation_score"] = 1          # written but not in the schema: caught
    with pytest.raises(jsonschema.ValidationError):
        schema_doc.validate("conformance", bad)


def test_the_schema_document_is_generated_from_the_schemas():
    from conv_oracle import schema_doc

    doc = schema_doc.DOC.read_text(encoding="utf-8")
    assert schema_doc.render(doc) == doc, "docs/report-schema.md is stale: run python -m conv_oracle.schema_doc"
    for kind in schema_doc.KINDS:
        assert f"conv_oracle/schemas/{kind}.schema.json" in doc


def test_failing_plugin_is_listed_with_a_replayable_minimal_failure(report, written):
    e = by_name(report, FORGETS_BIAS)
    assert e["status"] == "fail" and e["failures"]
    f = e["failures"][0]
    assert f["kind"] == "bound" and "y" in f["outputs"]
    assert ConvSpec.parse(f["descriptor"]).bias, "the shrunk failure must keep the bias"
    worst = next(w for w in f["worst"] if w["output"] == "y")
    assert worst["error"] > worst["bound"] and worst["ratio"] > 1 and len(worst["index"]) == 4
    assert f"--case '{f['descriptor']}'" in f["replay"] and f"--seed {f['seed']}" in f["replay"]
    # the replay names a loadable plugin and reproduces the failure
    target = f["replay"].split()[2]
    again = run_case(registry.load(target), ConvSpec.parse(f["descriptor"]), f["seed"], f["fill"])
    assert again.status == "fail" and again.replay() == f["replay"]
    for ext in ("md", "html"):
        text = open(written[ext], encoding="utf-8").read()
        assert f["descriptor"] in text and "conv-oracle check" in text


def test_the_report_is_rebuilt_from_its_records(report, records_path, tmp_path, monkeypatch):
    """--from-jsonl calls no plugin, oracle or JAX, and gives the live report back."""
    from conv_oracle import engine, runner
    from conv_oracle.oracles import torch_oracle

    def forbidden(*args, **kwargs):
        raise AssertionError("the report from records ran something")
    for module, name in ((runner, "run_case"), (engine, "run_campaign"), (torch_oracle, "reference")):
        monkeypatch.setattr(module, name, forbidden)
    code = report_cli.main(["report", "--from-jsonl", records_path, "--out", str(tmp_path)])
    assert code == 1                            # as live: a selected plugin fails
    rebuilt = _strict_json(tmp_path / "conformance.json")
    assert rebuilt == json.loads(json.dumps(report))
    live = tmp_path / "live"
    R.write_conformance(report, str(live))
    for ext in ("md", "html"):
        assert (tmp_path / f"conformance.{ext}").read_text() == (live / f"conformance.{ext}").read_text()


def test_every_distinct_failure_and_the_relations_are_in_the_report(report):
    e = by_name(report, FORGETS_BIAS)
    kinds = {f["kind"] for f in e["failures"]}
    assert "bound" in kinds and "relation: adjoint" in kinds, kinds
    for f in e["failures"]:
        assert f["first"]["replay"].startswith("conv-oracle check ") and f["replay"].startswith("conv-oracle check ")
    assert e["relations"]["adjoint"]["failed"] >= 1 and by_name(report, "loop")["relations"]["adjoint"]["failed"] == 0
    assert by_name(report, "loop")["relations"]["adjoint"]["checked"] >= 5
    power = by_name(report, "loop")["errors"]["y"]["bound_power"]
    assert 0 < power < 1e-2, power            # float16 loop sums included: still far below ||y||


def test_matrix_cells(report):
    loop = by_name(report, "loop")["matrix"]
    assert loop["y"]["float16"]["state"] == "pass"          # loop declares float16 (float16-accumulation bound)
    assert all(loop[o][f]["state"] == "pass" for o in ("y", "dx", "dw") for f in ("float16", "float32", "float64"))
    assert loop["db"]["bias"]["state"] == "pass"

    bias = by_name(report, FORGETS_BIAS)["matrix"]
    assert bias["y"]["bias"]["state"] == "fail"
    assert bias["y"]["bias"]["fail"] >= 1

    dil = by_name(report, ANSWERS_DILATION)["matrix"]
    assert dil["y"]["dilation"]["state"] == "answered"
    assert dil["y"]["float16"]["state"] in ("refused", "answered")  # float16 with dilation may be answered too
    assert dil["y"]["float16"]["refused"] >= 1
    assert all(dil[o][f]["state"] == "not-exercised" for o in ("dx", "dw", "db") for f in dil[o])


def test_unavailable_plugin_does_not_stop_the_report(report, written):
    e = by_name(report, "no_such_module_xyz:Plugin")
    assert e["status"] == "unavailable" and "ModuleNotFoundError" in e["error"]
    assert "no_such_module_xyz:Plugin" in report["summary"]["unavailable"]
    assert "no_such_module_xyz" in open(written["md"], encoding="utf-8").read()


def test_two_runs_give_the_same_verdicts(report):
    again = R.build_conformance(IMPLS, "ci", EXAMPLES, seed=0, studies=False, progress=False)
    assert R.verdicts(again) == R.verdicts(report)


def test_studies_are_tables_and_plots(report, written):
    w = report["studies"]["winograd_accuracy"]
    assert "unavailable" not in w, w.get("unavailable")
    assert {r["m"] for r in w["rows"] if "m" in r} == {2, 4}
    f = report["studies"]["fft_tightness"]
    assert "unavailable" not in f, f.get("unavailable")
    assert f["points"] and all(p["K"] >= 1 for p in f["points"])
    html = open(written["html"], encoding="utf-8").read()
    assert html.count("<svg") >= 3  # error/bound strip plot, winograd, fft


def test_the_output_mutant_detection_rate_is_in_the_report(report, written):
    om = report["studies"]["output_mutants"]
    assert "unavailable" not in om, om.get("unavailable")
    assert om["rates"] == {"loop": "2/2"} and {r["mutant"] for r in om["rows"]} == {"drop_bias", "dw_over_n"}
    assert "2/2 output mutants detected" in open(written["md"], encoding="utf-8").read()


def test_the_precision_verdicts_are_a_section_of_the_report(report, written):
    p = report["studies"]["precision"]
    assert "unavailable" not in p, p.get("unavailable")
    (row,) = p["rows"]            # loop declares float32 accumulation with one output rounding, and meets it
    assert (row["implementation"], row["dtype"], row["verdict"], row["cases"]) == ("loop", "bf16", "float32", 8)
    assert 0 < row["worst err/bound (float32 model)"] <= 1
    roles = {d["role"]: d for d in p["deciding"]}
    assert set(roles) == {"worst within"} and roles["worst within"]["model"] == "float32"
    replay = roles["worst within"]["replay"]
    assert replay.startswith("conv-oracle check loop --case ") and ConvSpec.parse(roles["worst within"]["case"])
    for ext in ("md", "html"):
        text = open(written[ext], encoding="utf-8").read()
        assert "Precision verdicts: the strictest standard model met" in text and "effective bits" in text
        assert replay.replace("'", "&#x27;" if ext == "html" else "'") in text


def test_a_failing_study_is_recorded_as_unavailable(monkeypatch):
    def broken(profile, **kw):
        raise RuntimeError("no data today")
    monkeypatch.setitem(R.STUDY_ADAPTERS, "fft_tightness", broken)
    assert R.run_study("fft_tightness", "ci")["unavailable"] == "RuntimeError: no data today"


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path, report, monkeypatch):
    path = tmp_path / "conformance.json"
    path.write_text("old")

    def half_then_crash(fh):
        fh.write("{\"half\": ")
        raise OSError("disk full")

    with pytest.raises(OSError):
        R.atomic_write(str(path), half_then_crash)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["conformance.json"]  # no temp file left behind

    # the report writer renders everything before replacing anything
    for ext in ("json", "md", "html"):
        (tmp_path / f"conformance.{ext}").write_text(f"old {ext}")
    monkeypatch.setattr(R, "render_html", lambda report: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        R.write_conformance(report, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["conformance.html", "conformance.json", "conformance.md"]
    assert all((tmp_path / f"conformance.{e}").read_text() == f"old {e}" for e in ("json", "md", "html"))
    monkeypatch.undo()
    R.write_conformance(report, str(tmp_path))
    assert _strict_json(tmp_path / "conformance.json")["schema"] == R.SCHEMA


def test_report_command_writes_three_files(tmp_path, capsys):
    code = report_cli.main(["report", "--impl", "loop", "--examples", "3", "--no-studies", "--no-jax",
                            "--out", str(tmp_path)])
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["conformance.html", "conformance.json", "conformance.jsonl",
                                            "conformance.md"]
    assert "wrote" in capsys.readouterr().out


def assert_within_its_bound(row: dict) -> None:
    """The timing study's verdict on a plugin: its declared bound, never a threshold of the test's."""
    assert row["within_bound"] is True and 0 <= row["max_error_over_bound"] <= 1, row


def test_the_timing_studys_bound_catches_a_planted_error():
    """The assertion above fails on a wrong plugin: a kernel flipped by one planted bug (a loop
    mutant), on the same bench layer; a correct plugin on the same arrays holds."""
    from conv_oracle.timing_report import accuracy_data

    rows = accuracy_data(["loop", "conv_oracle.mutants:forward_flips_kernel"], "h")["rows"]
    assert_within_its_bound(rows["loop"])
    planted = rows["conv_oracle.mutants:forward_flips_kernel"]
    with pytest.raises(AssertionError):
        assert_within_its_bound(planted)
    assert planted["max_error_over_bound"] > 1 and "Mismatched elements" in planted["bound_detail"]


def test_timing_report_renders_a_real_bench_run(tmp_path):
    from conv_oracle import bench
    from conv_oracle.timing_report import build_timing, write_timing

    data = bench.run_bench(["im2col"], ["h"], ["f32"], ["fwd"], repeats=1, warmup=0, gap=0.0, sgemm_n=64)
    rep = build_timing(data, crossover=False, accuracy=True)
    paths = write_timing(rep, str(tmp_path))
    saved = _strict_json(paths["json"])
    assert saved["schema"] == "conv-oracle/timing/1"
    from conv_oracle import schema_doc
    schema_doc.validate("timing", saved)
    assert {r["name"] for r in saved["bench"]["results"]} == {"torch", "jax", "im2col"}
    assert_within_its_bound(saved["accuracy"]["rows"]["im2col"])
    html = open(paths["html"], encoding="utf-8").read()
    assert "<svg" in html and data["blas"]["architecture"] in html


def test_timing_html_renders_in_headless_chromium(chromium, tmp_path):
    """The committed sample timing report (every section: summary, layers, crossover, speed vs
    accuracy), re-rendered from its JSON, as a browser shows it: every section, table cell and plot
    of the section model, no console message, a page that is not blank; its JSON still valid."""
    from conv_oracle import schema_doc
    from conv_oracle.timing_report import sections, write_timing

    committed = _strict_json(os.path.join(os.path.dirname(__file__), "..", "reports", "timing.json"))
    schema_doc.validate("timing", committed)
    paths = write_timing(committed, str(tmp_path))
    page = chromium.render(paths["html"])
    page.assert_shows(sections(committed))
    assert page.h2 == ["Summary", "Layers", "Crossover (time vs kernel size)", "Speed vs accuracy"] and page.svgs == 2
    assert open(paths["md"], encoding="utf-8").read().count("\n## ") == 4
    pixels, console = chromium.screenshot(paths["html"], tmp_path / "timing.png")
    assert not console and pixels.std() > 10 and (pixels < 200).mean() > 0.01, "blank page or no plot"
    # the check can fail: a page cut short loses sections, tables and a plot
    text = open(paths["html"], encoding="utf-8").read()
    cut = tmp_path / "cut.html"
    cut.write_text(text[:text.index('<h2 id="accuracy">')])
    with pytest.raises(AssertionError):
        chromium.render(cut).assert_shows(sections(committed))


def test_html_renders_in_headless_chromium(written, report, chromium, tmp_path):
    from conv_oracle.report_sections import sections

    html = open(written["html"], encoding="utf-8").read()
    assert html.count("<svg") >= 3 and "<script" not in html and "http://" not in html.split("<svg", 1)[0]
    chromium.render(written["html"]).assert_shows(sections(json.loads(json.dumps(report))))
    pixels, console = chromium.screenshot(written["html"], tmp_path / "conformance.png")
    assert not console, "\n".join(console)
    assert pixels.std() > 10, "the screenshot is blank"
    # the plots are drawn: the band where the first SVG sits has many non-white pixels
    assert (pixels < 200).mean() > 0.01
    # the harness does see console errors (so the assertions above can fail)
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom')</script></body></html>")
    assert any("boom" in line for line in chromium.render(bad).console)
