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


def test_report_progress_is_plain_lines_when_not_a_terminal(capsys):
    from conv_oracle.progress import PlainProgress, display

    shown = display(None, console=Console(file=io.StringIO()))        # not a terminal
    assert isinstance(shown, PlainProgress)
    with PlainProgress(every=3600.0) as bar:
        task = bar.add_task("loop          ", total=180, note="loading")
        for _ in range(100):
            bar.update(task, advance=1, note="[red]2 failing cases[/red]")   # occasional: no line
        bar.update(task, total=120, completed=120, note="[red]1 failures[/red]")  # the campaign ended: a line
    assert capsys.readouterr().err.splitlines() == ["loop: 120/120 cases, 1 failures, 0 s"]


def test_report_prints_plain_progress_lines_on_a_pipe():
    """`report` with stderr on a pipe (a CI log): a line per plugin when its campaign ends, as `check` does."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run([sys.executable, "-m", "conv_oracle.cli", "report", "--impl", "loop", "--examples", "5",
                              "--no-studies", "--no-jax", "--trusted", "--out", out],
                             capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("loop: ")]
    assert lines and " cases, " in lines[-1] and lines[-1].endswith(" s"), run.stderr[-2000:]
