"""tox: the envs share one virtualenv, installed once. Running two envs in a row must not
recreate or reinstall it (tox 4 recreates an env_dir that a differently named env used)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.tox


def tox(work_dir, *args, timeout=1800):
    exe = shutil.which("tox", path=str(Path(sys.executable).parent)) or shutil.which("tox")
    if exe is None:
        pytest.skip("tox is not installed (pip install 'conv-oracle[test]')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOX_", "CONV_ORACLE_"))}
    return subprocess.run([exe, "--workdir", str(work_dir), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=env)


def _installed_state(shared: Path) -> dict:
    stamps = sorted(shared.glob(".installed-*"))
    torch = next(shared.glob("lib/python*/site-packages/torch"))
    return {"stamps": [(s.name, s.stat().st_mtime_ns) for s in stamps], "torch": torch.stat().st_ino}


def test_two_envs_in_a_row_share_one_installed_virtualenv(tmp_path):
    first = tox(tmp_path, "-e", "impl-loop", "--", "--co", "-q")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    shared = tmp_path / "shared"
    before = _installed_state(shared)
    assert before["stamps"], "./run did not install the shared virtualenv"
    second = tox(tmp_path, "-e", "report", "--", "--impl", "loop", "--examples", "2", "--no-studies", "--no-jax",
                 "--out", str(tmp_path / "reports"))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "recreate" not in second.stdout + second.stderr
    assert _installed_state(shared) == before, "the second env reinstalled the shared virtualenv"
    assert (tmp_path / "reports" / "conformance.json").exists()
    assert not (ROOT / ".venv").is_file(), "tox wrote a .venv redirect file into the repository root"
