"""Ctrl-C while the CLI is still importing (NumPy, Hypothesis, rich: about a second) ends it
cleanly: one line, exit 130, no traceback, nothing left running. The interrupt is a real SIGINT
to a real child process; a ``sitecustomize`` on its path holds it inside the import of NumPy
until the signal comes, so the signal lands there whatever the machine's speed."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HOLD = '''
import os, sys, time

class HoldNumpyImport:
    """Signal the test, then wait inside the import of numpy (the test's SIGINT ends the wait)."""
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            open(os.environ["STARTUP_HOLD_MARK"], "w").close()
            time.sleep(120)
        return None

sys.meta_path.insert(0, HoldNumpyImport())
'''
SCRIPT = Path(sys.executable).with_name("conv-oracle")
COMMANDS = {"console script": [str(SCRIPT)], "python -m conv_oracle": [sys.executable, "-m", "conv_oracle"]}


@pytest.mark.parametrize("how", list(COMMANDS))
def test_ctrl_c_during_start_up_imports_is_one_line_and_exit_130(how, tmp_path):
    if how == "console script" and not SCRIPT.exists():
        pytest.skip(f"no console script next to {sys.executable} (pip install -e . makes it)")
    (tmp_path / "sitecustomize.py").write_text(HOLD)
    mark = tmp_path / "importing-numpy"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "STARTUP_HOLD_MARK": str(mark)}
    proc = subprocess.Popen(COMMANDS[how] + ["list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mark.exists(), "the child never reached the import of numpy"
        os.killpg(proc.pid, signal.SIGINT)           # as a terminal's Ctrl-C: the whole process group
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in err, err
    assert (proc.returncode, err.strip()) == (130, "conv-oracle: interrupted"), (proc.returncode, err, out)
    with pytest.raises(ProcessLookupError):          # nothing of its process group is left running
        os.killpg(proc.pid, 0)
