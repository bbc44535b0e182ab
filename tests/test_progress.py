"""Progress of long runs: a rich bar on a terminal, an occasional plain line otherwise."""
import io

from rich.console import Console

from conv_oracle.progress import RunProgress


def test_plain_lines_when_not_a_terminal(capsys):
    with RunProgress("check loop", 3, enabled=False, plain_every=0.0) as progress:
        progress.advance()
        progress.advance(failed=True)
        progress.advance(counted=False)                 # a relation case: not a drawn one
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("check loop: 1/3 cases, 0 failing")
    assert lines[-1].startswith("check loop: 2/3 cases, 1 failing")


def test_plain_lines_are_occasional(capsys):
    with RunProgress("check loop", 1000, enabled=False, plain_every=3600.0) as progress:
        for _ in range(1000):
            progress.advance()
    assert capsys.readouterr().err == ""


def test_a_bar_on_a_terminal():
    screen = io.StringIO()
    with RunProgress("check loop", 4, console=Console(file=screen, force_terminal=True, width=100)) as progress:
        for _ in range(4):
            progress.advance(failed=True)
    assert "check loop" in screen.getvalue() and "4/4" in screen.getvalue()
