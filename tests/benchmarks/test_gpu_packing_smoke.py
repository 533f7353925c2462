"""The GPU packing benchmark's pipeline on declared GPUs (trials train on the CPU): it must be ready to run
the day a GPU machine is lent. Its own process: it owns a Ray with GPUs declared."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_packing_and_ddp_rows_are_written(tmp_path):
    command = [sys.executable, "-m", "benchmarks.gpu_packing", "--fake-gpus", "1", "--dataset", "digits"]
    command += ["--model", "flawed_cnn", "--per-gpu", "1,2", "--trials", "2", "--epochs", "1", "--batch-size", "32"]
    command += ["--ddp-workers", "2", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "gpu_packing.jsonl").read_text().splitlines()]
    packing = [r for r in rows if r["kind"] == "packing"]
    assert [r["trials_per_gpu"] for r in packing] == [1, 2] and all(r["failed"] == 0 for r in packing)
    (ddp,) = [r for r in rows if r["kind"] == "ddp"]
    assert ddp["workers"] == 2 and ddp["images_per_s"] > 0
    assert all(r["machine"].endswith("(fake GPUs)") for r in rows)  # never mistaken for a measurement
