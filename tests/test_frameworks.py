"""Framework candidates (impls/frameworks/) and the contract they needed: declarable
constraints, direction and dtype limits, library settings applied in the worker, a file
plugin's neighbours importable there, a missing library listed with its install command."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

from conv_oracle import registry
from conv_oracle.isolation import IsolatedExecutor
from conv_oracle.plugin import Capabilities
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec
from conv_oracle.strategies import specs

HERE = Path(__file__).parent
FILE_PLUGIN = str(HERE / "frameworks_files" / "plugin_with_sibling.py")
ROOT = HERE.parent


# ---- the contract ---------------------------------------------------------------------------------
def test_declarable_constraints_refuse_and_describe():
    caps = Capabilities(equal_strides=True, square_kernel=True, valid_only=True, bias_required=True)
    ok = ConvSpec.parse("n1c2h6w6f2k3x3s2x2p0b1 f32")
    assert caps.unsupported_reasons(ok) == []
    bad = ConvSpec.parse("n1c2h6w6f2k3x2s2x1p1,0,0,0b0 f32")
    reasons = " ".join(caps.unsupported_reasons(bad))
    for words in ("one stride for both axes", "square kernels only", "'valid' only", "bias required"):
        assert words in reasons
    summary = caps.summary()
    assert "square kernels only" in summary and "bias required" in summary and "'valid' padding only" in summary


@settings(max_examples=40, derandomize=True, database=None)
@given(spec=specs(Capabilities(equal_strides=True, square_kernel=True, valid_only=True, bias_required=True)))
def test_strategies_draw_inside_the_constraints(spec):
    assert spec.kh == spec.kw and spec.stride[0] == spec.stride[1] and spec.bias
    assert spec.padding == ((0, 0), (0, 0))


def test_backward_and_dtype_limits():
    caps = Capabilities(dtypes=("float16", "float32"), backward_limits=Capabilities(groups=False),
                        dtype_limits={"float16": Capabilities(backward=False, max_dilation=1)})
    grouped = ConvSpec.parse("n1c4h5w5f4k3g2 f32")
    assert caps.unsupported_reasons(grouped) == []                  # forward: grouped is fine
    assert caps.backward_reasons(grouped) == ["backward with groups=2"]
    half = ConvSpec.parse("n1c2h5w5f2k3 f16")
    assert caps.backward_reasons(half) == ["backward in float16"]
    assert caps.unsupported_reasons(ConvSpec.parse("n1c2h7w7f2k3d2 f16")) == ["dilation (2, 2) (max 1) in float16"]
    assert caps.unsupported_reasons(ConvSpec.parse("n1c2h7w7f2k3d2 f32")) == []
    hash(caps)                                                       # frozen and hashable, dict given or not
    assert "float16: no dilation fwd only" in caps.summary()


def test_run_case_checks_backward_only_where_declared():
    from impls.frameworks.torch_conv import TorchEager

    class NoGroupedGradient(TorchEager):
        name = "torch-no-grouped-gradient"
        capabilities = Capabilities(dtypes=("float32",), backward_limits=Capabilities(groups=False))

    plugin = NoGroupedGradient()
    grouped = run_case(plugin, ConvSpec.parse("n1c4h5w5f4k3g2 f32"), 0)
    assert grouped.ok and [v.output for v in grouped.verdicts] == ["y"]
    dense = run_case(plugin, ConvSpec.parse("n1c4h5w5f4k3 f32"), 0)
    assert dense.ok and [v.output for v in dense.verdicts] == ["y", "dx", "dw", "db"]


# ---- registry and worker ----------------------------------------------------------------------------
def test_missing_library_is_unavailable_with_its_install_command():
    entry = registry.entry(f"{FILE_PLUGIN}:MissingLibrary")
    assert not entry.available and entry.install == "pip install no-such-library-for-conv-oracle"
    assert "no_such_library_for_conv_oracle not installed: pip install no-such-library" in entry.error
    run = subprocess.run([sys.executable, "-m", "conv_oracle.cli", "check", f"{FILE_PLUGIN}:MissingLibrary",
                          "--profile", "ci", "--no-jax"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "pip install no-such-library-for-conv-oracle" in run.stderr


def test_a_missing_library_is_no_import_fault_under_the_import_probe():
    """Under isolated imports (report, check) a candidate whose library is missing keeps its family
    and install command: it is not counted among the algorithms of the default report."""
    name = f"{FILE_PLUGIN}:MissingLibrary"
    assert registry.probe_imports([name], 60.0) == {name: None}
    registry.clear_cache()
    try:
        with registry.isolated_imports(60.0):
            entry = registry.entry(name)
        assert not entry.available and entry.family == "framework"
        assert entry.install == "pip install no-such-library-for-conv-oracle"
    finally:
        registry.clear_cache()


def test_candidates_are_listed_and_not_in_the_default_suite():
    entries = {e.name: e for e in registry.all_entries()}
    candidates = registry.family_names("framework")
    assert {"torch-eager", "torch-channels-last", "torch-no-mkldnn", "torch-compile", "torch-f16", "torch-bf16",
            "jax-bf16",
            "jax-f32", "jax-f32-highest", "onnxruntime", "onnxruntime-noopt", "tinygrad", "opencv-filter2d",
            "scipy-correlate2d"} <= set(candidates)
    for name in candidates:
        e = entries[name]
        assert e.available or "pip install" in e.error, (name, e.error)
    assert not set(candidates) & set(registry.family_names(""))
    assert "loop" in registry.family_names("")


def test_file_plugin_neighbours_and_settings_reach_the_worker():
    name = f"{FILE_PLUGIN}:NeedsSetting"
    assert os.environ.get("PLANTED_LIBRARY_SETTING") is None
    plugin = registry.load(name)
    with IsolatedExecutor(name, timeout=120) as executor:
        result = run_case(plugin, ConvSpec.parse("n1c2h5w5f2k3p1 f32"), 0, executor=executor)
    assert result.ok, result.message()
    assert os.environ.get("PLANTED_LIBRARY_SETTING") is None   # applied there, not here


# ---- the candidates on fixed cases (fuzzing them is the frameworks report's job) ---------------------
FIXED = ("n2c4h7w6f4k3x2s2x1p1,0,2,1d1x2g2b1", "n1c3h6w6f2k3s2p1b0")
CI_CANDIDATES = ["torch-eager", "torch-channels-last", "torch-no-mkldnn", "torch-compile", "jax-f32",
                 "jax-f32-highest", "onnxruntime", "onnxruntime-noopt", "tinygrad", "opencv-filter2d",
                 "scipy-correlate2d", "tensorflow", "tensorflow-no-onednn"]   # TensorFlow: tox -e frameworks-tf
STRIDE_1 = {"opencv-filter2d", "scipy-correlate2d"}   # what filter2D / correlate2d support
# low precision: integer data is (nearly) exact with float32 accumulation; random data shows findings
LOW_PRECISION = {"torch-f16": "f16", "torch-bf16": "bf16", "jax-bf16": "bf16", "onnxruntime": "f16"}


@pytest.mark.parametrize("name", CI_CANDIDATES)
def test_candidate_answers_fixed_cases_in_its_worker(name):
    entry = registry.entry(name)
    if not entry.available:
        pytest.skip(f"{name}: {entry.error}")
    with IsolatedExecutor(name, timeout=300) as executor:
        for descriptor in FIXED:
            if name in STRIDE_1:
                descriptor = descriptor.replace("s2x1", "").replace("s2", "").replace("d1x2", "")
            for fill in ("integer", "normal"):
                result = run_case(entry.plugin, ConvSpec.parse(descriptor + " f32"), 3, fill, executor=executor)
                assert result.ok, result.message()


@pytest.mark.parametrize("name", sorted(LOW_PRECISION))
def test_low_precision_candidate_passes_on_integer_data(name):
    entry = registry.entry(name)
    if not entry.available:
        pytest.skip(f"{name}: {entry.error}")
    with IsolatedExecutor(name, timeout=300) as executor:
        for descriptor in FIXED:
            spec = ConvSpec.parse(f"{descriptor} {LOW_PRECISION[name]}")
            result = run_case(entry.plugin, spec, 3, "integer", executor=executor)
            assert result.ok, result.message()


def test_torch_compile_really_compiles():
    import numpy as np

    from impls.frameworks.torch_conv import run_torch, torch_compiled_conv

    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    out = run_torch(x, w, None, np.ones((1, 3, 3, 3), np.float32), (1, 1), ((0, 0), (0, 0)), (1, 1), 1,
                    compiled=True)
    _, calls = torch_compiled_conv(("contiguous", True))
    assert calls["compiled"] >= 1 and calls["ran"] >= 1
    assert (out["y"] == 18).all() and (out["dw"] == 9).all()
