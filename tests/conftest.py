"""Opt-in tests: ``-m tox`` runs the tox tests, which install a fresh shared virtualenv
(torch, JAX, the frameworks: minutes), too slow for the 20-minute CI budget."""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "tox: runs tox envs in a fresh work dir (minutes; opt-in with -m tox)")


def pytest_collection_modifyitems(config, items):
    if "tox" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: installs a fresh virtualenv with tox (minutes); run with -m tox")
    for item in items:
        if "tox" in item.keywords:
            item.add_marker(skip)


# ---- a real headless browser for the HTML reports ------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


class RenderedPage:
    """What headless chromium made of an HTML file: its DOM after parsing (headings, tables with
    their cell texts, SVG elements) and the console messages it logged."""

    def __init__(self, dom: str, console: list[str]):
        from html.parser import HTMLParser

        self.dom, self.console = dom, console
        self.h2, self.tables, self.svgs = [], [], 0
        page = self

        class Walk(HTMLParser):
            text, in_h2, row = None, False, None

            def handle_starttag(self, tag, attrs):
                if tag == "h2":
                    self.in_h2, self.text = True, []
                elif tag == "table":
                    page.tables.append([])
                elif tag == "tr":
                    self.row = []
                    page.tables[-1].append(self.row)
                elif tag in ("td", "th"):
                    self.text = []
                elif tag == "svg":
                    page.svgs += 1

            def handle_endtag(self, tag):
                if tag == "h2":
                    page.h2.append("".join(self.text).strip())
                    self.in_h2, self.text = False, None
                elif tag in ("td", "th") and self.row is not None:
                    self.row.append("".join(self.text).strip())
                    self.text = None

            def handle_data(self, data):
                if self.text is not None:
                    self.text.append(data)

        Walk().feed(dom)

    @staticmethod
    def expected(sections) -> tuple[list[str], list[list[list[str]]], int]:
        """(h2 titles, tables as rows of cell texts with the header first, SVG count) of report sections."""
        titles = [s.title for s in sections if s.title]
        tables = [[[str(h).strip() for h in b[1]], *[[str(c).strip() for c in row] for row in b[2]]]
                  for s in sections for b in s.blocks if b[0] == "table"]
        return titles, tables, sum(b[0] == "svg" for s in sections for b in s.blocks)

    def assert_shows(self, sections, before=(), tables_before=()) -> None:
        """The browser's DOM holds every section of the model, every table cell for cell and every
        plot, after the headings and tables given in ``before``/``tables_before``; no console message."""
        titles, tables, svgs = self.expected(sections)
        assert self.h2 == [*before, *titles]
        assert self.tables == [*tables_before, *tables]
        assert self.svgs == svgs
        assert not self.console, "\n".join(self.console)


class Chromium:
    """Headless chromium with a fresh profile in ``tmp_path``, console messages on stderr."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path

    def run(self, *args: str):
        import subprocess

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={self.tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0"]
        return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=60)

    @staticmethod
    def console(run) -> list[str]:
        return [line for line in run.stderr.splitlines() if "CONSOLE" in line]

    def render(self, path) -> RenderedPage:
        run = self.run("--dump-dom", f"file://{path}")
        assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
        return RenderedPage(run.stdout, self.console(run))

    def screenshot(self, path, png, size="1280,3000"):
        """The page as pixels (grey levels, 0-255): blank pages and missing plots show."""
        import numpy as np
        from PIL import Image

        run = self.run(f"--window-size={size}", f"--screenshot={png}", f"file://{path}")
        assert png.exists() and png.stat().st_size > 10_000, run.stderr[-2000:]
        return np.asarray(Image.open(png).convert("L"), dtype=np.float64), self.console(run)


@pytest.fixture
def chromium(tmp_path):
    """A real headless browser; skips, naming it, where it is not installed (``./run`` installs it)."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium; ./run installs it)")
    return Chromium(tmp_path)
