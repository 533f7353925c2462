"""Fractional GPUs: trials of a quarter GPU run four to a GPU, each sees only the GPU Ray gave it.

The node declares GPUs that this CPU machine does not have: the packing and the isolation
(``CUDA_VISIBLE_DEVICES``) are Ray's bookkeeping and hold the same; the trainable then trains on
the CPU because CUDA is absent. The throughput of real packing is measured on a GPU machine
(``benchmarks/gpu_packing.py``).
"""

from __future__ import annotations

import pytest

from tests.cluster.summary import run_summary

pytestmark = pytest.mark.integration


def run_packing(storage, *extra: str) -> dict:
    return run_summary("tests.cluster.gpu_packing_run", str(storage), *extra)


def test_quarter_gpu_trials_run_four_at_once_on_one_gpu(tmp_path):
    summary = run_packing(tmp_path, "--gpus", "1", "--gpu-per-trial", "0.25", "--trials", "4")
    assert summary["errors"] == [] and len(summary["trials"]) == 4
    assert all(t["others_started"] == 3 for t in summary["trials"]), summary  # all four ran side by side
    assert all(t["gpu_ids"] == ["0"] and t["cuda_visible_devices"] == "0" for t in summary["trials"]), summary


def test_half_gpu_trials_on_two_gpus_are_spread_and_isolated(tmp_path):
    summary = run_packing(tmp_path, "--gpus", "2", "--gpu-per-trial", "0.5", "--trials", "4")
    assert summary["errors"] == [] and all(t["others_started"] == 3 for t in summary["trials"]), summary
    visible = sorted(t["cuda_visible_devices"] for t in summary["trials"])
    assert visible == ["0", "0", "1", "1"], summary  # two trials per GPU, each sees only its own


def test_whole_gpu_trials_queue_when_the_gpus_are_taken(tmp_path):
    summary = run_packing(tmp_path, "--gpus", "1", "--gpu-per-trial", "1", "--trials", "2", "--barrier-s", "5")
    assert summary["errors"] == [] and len(summary["trials"]) == 2
    assert sorted(t["others_started"] for t in summary["trials"]) == [0, 1], summary  # one after the other
