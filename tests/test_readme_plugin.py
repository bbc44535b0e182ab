"""The README's worked plugin example, copied verbatim into its own file, checks clean with
the one command the README gives; a broken copy of it is caught."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
CLI = [sys.executable, "-m", "conv_oracle.cli"]


def readme_plugin() -> str:
    return re.search(r"```python\n(# my_conv\.py.*?)```", README.read_text(), re.S).group(1)


def check(tmp_path, source: str, *extra):
    (tmp_path / "my_conv.py").write_text(source)
    return subprocess.run(CLI + ["check", "my_conv.py:EinsumConv", "--profile", "ci", "--examples", "25", *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_readme_plugin_checks_clean(tmp_path):
    assert "conv-oracle check my_conv.py:EinsumConv" in README.read_text()
    run = check(tmp_path, readme_plugin())
    assert run.returncode == 0, run.stdout + run.stderr
    assert "my_conv.py:EinsumConv: pass;" in run.stdout and "refused cleanly" in run.stdout


def test_broken_copy_of_readme_plugin_fails_with_replay(tmp_path):
    broken = readme_plugin().replace("windows[:, ::spec.stride[0], ::spec.stride[1]]", "windows[:, ::spec.stride[1], ::spec.stride[0]]")
    run = check(tmp_path, broken, "--no-jax")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "replay: conv-oracle check my_conv.py:EinsumConv --case" in run.stdout
