"""What the repository keeps: generated output is ignored by git, committed reports are not,
and every CONV_ORACLE_* variable is read in conv_oracle/config.py alone."""
import re
import subprocess
from pathlib import Path

import pytest

from conv_oracle.campaign_cli import DEFAULT_OUT as CAMPAIGN_OUT

ROOT = Path(__file__).resolve().parents[1]


def _ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0


@pytest.fixture(autouse=True, scope="module")
def _in_a_git_checkout():
    if subprocess.run(["git", "rev-parse"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout (git check-ignore needs one)")


def test_what_a_campaign_writes_by_default_is_ignored():
    # `conv-oracle campaign` writes its records and merged report under --out (default reports/campaign/)
    for name in ("campaign.jsonl", "conformance.json", "conformance.md", "conformance.html"):
        assert _ignored(f"{CAMPAIGN_OUT}/{name}"), f"{CAMPAIGN_OUT}/{name} is not ignored"


def test_committed_reports_are_not_ignored():
    for name in ("reports/conformance.json", "reports/frameworks.md", "reports/frameworks/torch-f16-1.py",
                 "reports/precision.md", "reports/training.json"):
        assert not _ignored(name), f"{name} is ignored: a committed report would be lost"


_READ = re.compile(r"""(?:environ\.get|getenv|environ\[|environ\.setdefault)\(?\s*["'](CONV_ORACLE_\w+)""")
_NAME = re.compile(r"CONV_ORACLE_[A-Z0-9_]+")


def _sources():
    for folder in ("conv_oracle", "impls", "tests", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")
    for name in ("run", ".ci/run", "tox.ini"):
        if (ROOT / name).exists():
            yield ROOT / name


def test_every_conv_oracle_variable_is_read_in_config_only():
    config = (ROOT / "conv_oracle" / "config.py").read_text()
    stray, unknown = [], set()
    for path in _sources():
        text = path.read_text(errors="replace")
        if path.name != "config.py" or path.parent.name != "conv_oracle":
            stray += [f"{path.relative_to(ROOT)}: {m.group(1)}" for m in _READ.finditer(text)]
        unknown |= {n for n in _NAME.findall(text) if n not in config}
    assert not stray, f"read outside conv_oracle/config.py: {stray}"
    assert not unknown, f"CONV_ORACLE_* variables that conv_oracle/config.py does not know: {sorted(unknown)}"
