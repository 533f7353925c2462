"""A killed driver resumes: Tuner.restore keeps the searcher's history and re-runs no finished trial."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from ray import tune

from llm_search.exchange_log import read_exchanges
from tests.integration.tasks import quadratic_trainable

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def finished_trials(experiment: str) -> set[str]:
    done = set()
    for path in glob.glob(os.path.join(experiment, "*", "result.json")):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if rows and rows[-1].get("training_iteration") == 3:
            done.add(rows[-1]["trial_id"])
    return done


def test_killed_driver_resumes_with_full_history(ray_session, storage, tmp_path):
    starts = tmp_path / "starts.txt"
    # The driver starts its own Ray (as a user's script would), not the test session's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env = {**env, "LLM_SEARCH_TEST_STARTS": str(starts), "TUNE_GLOBAL_CHECKPOINT_S": "0.5",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([sys.executable, "-m", "tests.integration.interrupted_driver", storage], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    experiment = os.path.join(storage, "interrupted")
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(finished_trials(experiment)) < 3:
            time.sleep(0.5)
        time.sleep(1.0)  # let a periodic experiment save include the newest results
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray processes
        driver.wait()
        log.close()
    before = finished_trials(experiment)
    assert len(before) >= 3, (tmp_path / "driver.log").read_text()[-3000:]
    assert glob.glob(os.path.join(experiment, "searcher-state-*")), "no searcher state was saved"

    tuner = tune.Tuner.restore(experiment, trainable=quadratic_trainable, resume_errored=True)
    results = tuner.fit()
    assert len(results) == 8 and not results.errors
    started = starts.read_text().split()
    assert all(started.count(trial_id) == 1 for trial_id in before), "a finished trial was re-run"
    # Prompts written after the restore know the results from before the kill.
    records = list(read_exchanges(os.path.join(experiment, "llm_exchanges.jsonl")))
    later = [r for r in records if "Results so far" in r["messages"][-1]["content"]]
    counts = [int(r["messages"][-1]["content"].split("Results so far: ")[1].split()[0]) for r in later]
    assert counts and max(counts) >= len(before)
