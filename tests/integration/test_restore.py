"""A killed driver resumes: Tuner.restore keeps the searcher's history, re-runs no finished trial, resumes
the errored one either way Tune offers, and the exchange log goes on in the experiment directory."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from llm_search.exchange_log import read_exchanges
from llm_search.history import History
from llm_search.searcher_state import load_saved_state
from tests.integration.interrupted_driver import FAILING_POINT, NAME

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trial_results(experiment: str) -> dict[str, list[dict]]:
    """Every trial's reported rows, from the result.json files Tune wrote (trial id -> rows)."""
    rows: dict[str, list[dict]] = {}
    for path in glob.glob(os.path.join(experiment, "*", "result.json")):
        with open(path) as f:
            for row in (json.loads(line) for line in f if line.strip()):
                rows.setdefault(row["trial_id"], []).append(row)
    return rows


def finished_trials(experiment: str) -> set[str]:
    return {t for t, rows in trial_results(experiment).items() if rows[-1].get("training_iteration") == 3}


def saved_statuses(experiment: str) -> dict[str, str]:
    """Trial id -> status in Tune's newest saved experiment state: what a restore starts from.

    A trial whose last result was written after that save is not finished there, and Tune runs it again.
    """
    paths = glob.glob(os.path.join(experiment, "experiment_state-*.json"))
    if not paths:
        return {}
    try:
        with open(max(paths)) as f:
            trial_data = json.load(f)["trial_data"]
    except (OSError, ValueError, KeyError):  # being written
        return {}
    trials = [json.loads(state) if isinstance(state, str) else state for state, _ in trial_data]
    return {t["trial_id"]: t["status"] for t in trials}


def terminated(statuses: dict[str, str]) -> set[str]:
    return {t for t, status in statuses.items() if status == "TERMINATED"}


def saved_records(experiment: str) -> dict[str, dict]:
    """The searcher's saved history, {trial id: record fields}, read through ``History.from_state``
    (the state stores finished records pickled)."""
    history = History.from_state(
        load_saved_state(experiment)["history"]
    )  # the newest readable copy, as a restore reads
    return {trial_id: dataclasses.asdict(record) for trial_id, record in history.records.items()}


def run_driver(args: list[str], env: dict, log_path) -> subprocess.Popen:
    log = open(log_path, "a")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.interrupted_driver", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.parametrize("how", ["resume_errored", "restart_errored"])
def test_killed_driver_resumes_with_full_history(storage, tmp_path, how):
    starts, log_path = tmp_path / "starts.txt", tmp_path / "driver.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}  # each driver starts its own Ray
    env = {
        **env,
        "LLM_SEARCH_TEST_STARTS": str(starts),
        "LLM_SEARCH_TEST_FAIL_ONCE": str(tmp_path / "failed-once"),
        "TUNE_GLOBAL_CHECKPOINT_S": "0.5",
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    experiment = os.path.join(storage, NAME)
    driver = run_driver([storage], env, log_path)
    deadline = time.time() + 240
    try:
        statuses = {}
        while time.time() < deadline and (len(terminated(statuses)) < 3 or "ERROR" not in statuses.values()):
            time.sleep(0.5)
            statuses = saved_statuses(experiment)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray processes
        driver.wait()
    statuses = saved_statuses(experiment)
    before = terminated(statuses)
    assert len(before) >= 3 and "ERROR" in statuses.values(), log_path.read_text()[-3000:]
    records_before = saved_records(experiment)
    [errored] = [t for t, r in records_before.items() if r["status"] == "errored"]
    exchanges_before = len(list(read_exchanges(experiment)))

    restored_at = time.time()
    restore = run_driver([storage, how], env, log_path)
    assert restore.wait(timeout=600) == 0, log_path.read_text()[-3000:]

    results = trial_results(experiment)
    started = starts.read_text().split()
    assert len(finished_trials(experiment)) == 8  # a restarted trial replaces the errored one under a new id
    assert all(started.count(trial_id) == 1 for trial_id in before), "a finished trial was re-run"
    records = saved_records(experiment)
    rerun = (
        errored
        if how == "resume_errored"
        else next(
            t
            for t in records
            if t not in records_before and records[t]["config"]["lr"] == FAILING_POINT["lr"] and t != errored
        )
    )
    # The re-run of the errored trial is in the searcher's history with its results.
    assert records[rerun]["status"] == "completed" and records[rerun]["source"] == "points"
    assert records[rerun]["objective"] == pytest.approx(results[rerun][-1]["loss"])
    assert all(r["status"] == "completed" for t, r in records.items() if t != errored or how == "resume_errored")
    # The exchange log goes on in the experiment directory after the restore, and its prompts
    # know the results from before the kill.
    exchanges = list(read_exchanges(experiment))
    after = [r for r in exchanges[exchanges_before:] if r["time"] >= restored_at]
    assert after, "nothing was logged after the restore"
    prompts = [m["content"] for r in after for m in r["messages"] if "Results so far: " in m["content"]]
    counts = [int(p.split("Results so far: ")[1].split()[0]) for p in prompts]
    assert min(counts) >= len(before)
