"""An experiment stored in S3 (a local S3 server, moto): a killed driver restores from the bucket alone.

The driver and its restore are separate processes with their own Ray and their own local staging,
as on a new head node: what the restore knows (trials, the searcher's state, the exchange log) it
read from the bucket. Nothing finished is re-run, and the exchange log in the bucket keeps the
records from before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.cluster.remote_storage_run import NAME, TRIALS

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUCKET = "experiments"


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on a free port; yields (environment for the drivers, boto3 client)."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    yield env, client
    server.stop()


def read(client, key: str) -> str:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def statuses(client) -> dict[str, str]:
    """Trial id -> status in the newest experiment state in the bucket (what a restore starts from)."""
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{NAME}/experiment_state-").get("Contents", [])
    if not listed:
        return {}
    state = json.loads(read(client, max(o["Key"] for o in listed)))
    trials = [json.loads(t) if isinstance(t, str) else t for t, _ in state["trial_data"]]
    return {t["trial_id"]: t["status"] for t in trials}


def exchanges(client) -> list[dict]:
    return [json.loads(line) for line in read(client, f"runs/{NAME}/llm_exchanges.jsonl").splitlines() if line]


def test_a_killed_driver_restores_from_the_bucket(s3, tmp_path):
    env_s3, client = s3
    starts = tmp_path / "starts.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(env_s3, LLM_SEARCH_TEST_STARTS=str(starts), TUNE_GLOBAL_CHECKPOINT_S="0.5", PYTHONPATH=ROOT)
    command = [sys.executable, "-m", "tests.cluster.remote_storage_run", f"s3://{BUCKET}/runs"]
    log = open(tmp_path / "driver.log", "a")
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and list(statuses(client).values()).count("TERMINATED") < 2:
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = {t for t, s in statuses(client).items() if s == "TERMINATED"}
    assert 2 <= len(before) < TRIALS, (tmp_path / "driver.log").read_text()[-3000:]
    logged_before = exchanges(client)

    restore = subprocess.run([*command, "restore"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert restore.returncode == 0, restore.stderr[-3000:]
    final = statuses(client)
    assert len(final) == TRIALS and set(final.values()) == {"TERMINATED"}, final
    started = starts.read_text().split()
    assert all(started.count(trial) == 1 for trial in before), "a finished trial was re-run"
    logged = exchanges(client)
    assert logged[: len(logged_before)] == logged_before  # the bucket's log kept what came before the kill
    assert len(logged) > len(logged_before)  # and went on after the restore
    searcher_states = client.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{NAME}/searcher-state-")["Contents"]
    assert searcher_states  # the searcher's state is in the bucket too
