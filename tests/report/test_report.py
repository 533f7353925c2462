"""`llm-search report` on a real supervised Tune experiment, checked as text and in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from matplotlib import image

from benchmarks.cli import main
from llm_search.backends.scripted import ScriptedBackend
from llm_search.supervision.scheduler import LLMSupervisor
from tests.supervision.test_supervisor import ADJUSTABLE, lower_a_high_rate, run

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
LAPTOP = (1366, 900)


@pytest.fixture(scope="module")
def supervised_experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    supervisor = LLMSupervisor(ScriptedBackend(default=lower_a_high_rate), adjustable=ADJUSTABLE)
    run(root, supervisor, [0.5, 0.01], name="supervised")
    return root / "supervised"


def test_the_report_shows_the_decision_the_recovery_and_the_llm_usage(supervised_experiment, tmp_path, capsys):
    assert main(["report", str(supervised_experiment), "--out", str(tmp_path)]) == 0
    assert "2 trials" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text()
    assert "loss rising: lr too high" in page and 'class="action-adjust">adjust<' in page
    assert page.count("<img ") == 3  # the overview and both trials (one is best, one was acted on)
    assert "src='data:image/png;base64," in page and "report_files" not in page  # self-contained
    assert "<td>analyst</td>" in page  # the LLM calls per role
    markdown = (tmp_path / "report.md").read_text()
    figures = [line.split("(")[1].rstrip(")") for line in markdown.splitlines() if line.startswith("![")]
    assert len(figures) == 3 and all((tmp_path / f).is_file() for f in figures)
    assert "| adjust |" in markdown


def test_the_report_renders_in_a_headless_browser_within_a_laptop_screen(supervised_experiment, tmp_path):
    browser = shutil.which("chromium")
    assert browser, "the report test needs Debian's chromium: bash scripts/bootstrap.sh --dev installs it"
    assert main(["report", str(supervised_experiment), "--out", str(tmp_path)]) == 0
    shot = tmp_path / "screenshot.png"
    command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    command += [f"--window-size={LAPTOP[0]},{LAPTOP[1]}", f"--screenshot={shot}", (tmp_path / "report.html").as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (LAPTOP[1], LAPTOP[0])
    assert pixels[..., :3].std() > 0.05  # something is drawn: text, tables, a figure
    margin = pixels[:, -80:, :3]
    assert margin.min() > 0.9  # nothing runs off the right edge: the layout fits the screen
