"""`--address` joins an existing Ray cluster: the benchmark runner runs on a head started with `ray start`,
and fails with a clear error on an address where no cluster is."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 120.0) -> None:
    """Until the head's GCS accepts connections: `ray start --block` returns nothing to wait on, and on a
    busy machine the runner could otherwise ask before the head is up (and rightly find no cluster)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the Ray head did not listen on port {port} within {timeout_s:.0f} s")


def runner(address: str, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmarks.run", "--address", address, "--methods", "random"]
    command += ["--problems", "hpobench/car", "--seeds", "0", "--budget", "3", "--out", str(out)]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_the_runner_joins_the_cluster_at_address_and_refuses_a_dead_one(tmp_path):
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    # Its own temp dir (short: Unix socket paths are limited), so the address file `ray start` writes
    # does not make a later plain ray.init() on this machine join a cluster that is gone.
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    head = [RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", "--block"]
    head.append(f"--temp-dir={temp_dir}")
    # --block keeps the head's processes in this process group, so the test stops its own cluster only
    # (`ray stop` would stop every Ray on the machine).
    cluster = subprocess.Popen(
        head, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        wait_for_port(port)
        done = runner(f"127.0.0.1:{port}", tmp_path / "live")
        assert done.returncode == 0, done.stderr[-3000:]
        assert list((tmp_path / "live").rglob("seed0.parquet"))
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
    dead_address = f"127.0.0.1:{free_port()}"
    dead = runner(dead_address, tmp_path / "dead")
    assert dead.returncode != 0 and not list((tmp_path / "dead").rglob("seed0.parquet"))
    assert f"no Ray cluster answers at {dead_address}" in dead.stderr
