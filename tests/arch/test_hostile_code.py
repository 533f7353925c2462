"""Hostile generated code is rejected statically or contained by the sandbox, with nothing changed outside.

The corpus is in ``hostile_corpus.py``. Every snippet goes through :func:`validate_model_code`; a
listening socket counts connection attempts, a marker path outside the sandbox must never appear,
and no process of the sandbox may outlive its validation. Snippets the static check rejects are
also run in the sandbox without it (defence in depth): the child's own guards must stop those too.
The test prints how many snippets were tried and how each was stopped.
"""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from llm_search.arch.code_checks import check_model_source
from llm_search.arch.sandbox import SandboxLimits, run_in_sandbox, validate_model_code
from tests.arch.hostile_corpus import CORPUS, fill, model

pytest.importorskip("torch")

# Short limits keep the endless loops quick; memory stays above what torch itself needs.
LIMITS = SandboxLimits(cpu_s=4, wall_s=30, memory_mb=2048, file_mb=4, max_params=1_000_000)
# Static rejects whose actions the child process's own guards must also stop.
DEFENCE_IN_DEPTH = (
    "os.system",
    "subprocess",
    "open for writing",
    "socket",
    "ctypes",
    "eval",
    "__import__",
    "import builtins",
    "globals",
    "subclass walk to os",
)


class Listener:
    """A TCP server on localhost that counts the connections it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def sandbox_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "sandbox_child.py" in line]


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


def test_the_corpus_is_large_and_covers_both_lines_of_defence():
    assert len(CORPUS) >= 30
    assert sum(s.expect != "static check" for s in CORPUS) >= 8
    assert set(DEFENCE_IN_DEPTH) <= {s.name for s in CORPUS if s.expect == "static check"}


def test_every_hostile_snippet_is_stopped_and_nothing_outside_changes(tmp_path, listener, capsys):
    marker = tmp_path / "outside" / "touched"
    marker.parent.mkdir()
    before = sandbox_processes()
    rows = []
    for snippet in CORPUS:
        source = fill(snippet.source, str(marker), listener.port)
        report = validate_model_code(source, input_shape=(1, 28, 28), num_classes=10, limits=LIMITS)
        rows.append((snippet.name, "full check", report.stage, report.stopped_by))
        assert not report.ok, f"{snippet.name!r} passed validation"
        assert report.stopped_by == snippet.expect, (snippet.name, report)
        if snippet.name in DEFENCE_IN_DEPTH:
            check = check_model_source(source)
            assert not check.ok
            unguarded = run_in_sandbox(source, "Net", input_shape=(1, 28, 28), num_classes=10, limits=LIMITS)
            rows.append((snippet.name, "sandbox alone", unguarded.stage, unguarded.stopped_by))
            assert not unguarded.ok and unguarded.stopped_by in ("exception", "sandbox guard"), (
                snippet.name,
                unguarded,
            )
        assert not marker.exists(), f"{snippet.name!r} wrote outside the sandbox"
        assert listener.connections == 0, f"{snippet.name!r} reached the network"
        assert list(marker.parent.iterdir()) == []
    assert sandbox_processes() == before, "a sandboxed process outlived its validation"
    with capsys.disabled():
        print(f"\n{len(CORPUS)} hostile snippets tried ({len(DEFENCE_IN_DEPTH)} also without the static check):")
        for name, expect, stage, stopped_by in rows:
            print(f"  {name:<28} {expect:<14} stopped at {stage:<14} by {stopped_by}")


def test_a_working_model_passes_with_its_measurements():
    source = model()  # a linear classifier on the flattened image
    report = validate_model_code(source, input_shape=(1, 28, 28), num_classes=10, limits=LIMITS)
    assert report.ok and report.stage == "done", report
    assert report.params == 784 * 10 + 10 and report.output_shape == [8, 10]
    assert report.flops_per_example == 2 * 784 * 10 and report.step_ms > 0
    assert "resource limits" in report.isolation
