"""The replay of an earlier code-proposals log puts its failed rounds through today's repairs."""

from __future__ import annotations

import pytest

from benchmarks.code_proposals import TASK
from benchmarks.code_replay import replay, summarize
from llm_search.arch.code_writer import CodeWriter
from llm_search.arch.sandbox import SandboxLimits
from llm_search.backends.scripted import ScriptedBackend
from llm_search.exchange_log import ExchangeLog
from tests.arch.test_code_writer import WRONG_FLATTEN, fenced

pytest.importorskip("torch")


def test_a_round_that_failed_on_a_guessed_flatten_size_passes_when_replayed(tmp_path):
    path = str(tmp_path / "exchanges.jsonl")
    broken_twice = ScriptedBackend([fenced(WRONG_FLATTEN), "no code"])
    writer = CodeWriter(
        broken_twice, max_fix_rounds=1, limits=SandboxLimits(cpu_s=20, wall_s=90), exchange_log=ExchangeLog(path)
    )
    writer.repair_shapes = False  # as the runs before the shape repairs
    assert not writer.write(TASK).ok
    (rounds,) = replay(path).values()
    assert [(ok, repaired) for ok, repaired, _ in rounds] == [(False, True), (False, False)]
    assert "nn.Linear(1568, num_classes)" in rounds[0][2][0]
    assert summarize(replay(path)).startswith("1 proposals: passed at the writer's round 0/1 as run, 1/1 now")
