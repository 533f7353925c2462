"""A Tune run with LLMSearcher on a local three-node Ray cluster (1 CPU each); prints a JSON summary.

    python -m tests.cluster.multinode_run <storage dir> [--kill-worker]

Run as its own process because it owns a Ray cluster (``ray.cluster_utils.Cluster``). Each trial
records the node it ran on and checkpoints every epoch; Tune retries failed
trials from their checkpoints (``FailureConfig(max_failures=...)``). With ``--kill-worker``, the
first worker node on which a trial reports its second epoch is removed (its raylet and the trial's
worker die, as when a machine is lost).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import tempfile
import threading
import time

import ray
from ray import tune
from ray.cluster_utils import Cluster

from llm_search import LLMSearcher
from llm_search.backends.scripted import ScriptedBackend

EPOCHS = 6


def propose(messages, options) -> str:
    """A scripted proposer: a fresh learning rate per call (the test is about the cluster, not the LLM)."""
    index = sum(1 for m in messages if m["role"] == "user")
    lr = round(0.001 + 0.01 * (len(messages[1]["content"]) % 97) / 97 + index * 1e-5, 6)
    return json.dumps({"configs": [{"learning_rate": lr}]})


def trainable(config: dict) -> None:
    epoch = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            with open(os.path.join(directory, "state.json")) as f:
                epoch = json.load(f)["epoch"]
    node = ray.get_runtime_context().get_node_id()
    while epoch < EPOCHS:
        epoch += 1
        time.sleep(1.0)
        # Seen by the node killer at once (Tune's result files are written by the driver, in batches).
        open(os.path.join(config["beacons"], f"{node}-{os.getpid()}-{epoch}"), "w").close()
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump({"epoch": epoch}, f)
            metrics = {
                "loss": config["learning_rate"] / epoch,
                "epoch": epoch,
                "node": node,
                "restored": checkpoint is not None,
            }
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("storage")
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    killed: list[str] = []
    os.makedirs(args.storage, exist_ok=True)
    beacons = tempfile.mkdtemp(prefix="beacons-", dir=args.storage)
    if args.kill_worker:
        by_id = {worker.node_id: worker for worker in workers}

        def kill() -> None:
            while True:  # wait until a trial on a worker node has finished its second epoch
                for beacon in os.listdir(beacons):
                    node, pid, epoch = beacon.split("-")
                    if node in by_id and epoch == "2":
                        # A lost machine takes its processes along: the trial's worker dies with the node
                        # (a worker whose raylet is gone can otherwise run on for seconds).
                        killed.append(node)
                        cluster.remove_node(by_id[node], allow_graceful=False)
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
                        return
                time.sleep(0.1)

        threading.Thread(target=kill, daemon=True).start()
    searcher = LLMSearcher(backend=ScriptedBackend(default=propose), strategy="llm", prefetch=0, seed=0)
    grid = tune.Tuner(
        trainable,
        param_space={"learning_rate": tune.loguniform(1e-3, 1e-1), "beacons": beacons},
        tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=args.trials),
        run_config=tune.RunConfig(
            storage_path=args.storage, name="cluster", verbose=0, failure_config=tune.FailureConfig(max_failures=3)
        ),
    ).fit()
    trials = []
    for result in grid:
        history = result.metrics_dataframe
        trials.append(
            {
                "error": str(result.error) if result.error else None,
                "epochs": history["epoch"].tolist() if history is not None else [],
                "nodes": sorted(set(history["node"])) if history is not None else [],
                "restored": bool(history["restored"].any()) if history is not None else False,
            }
        )
    summary = {"trials": trials, "killed": killed, "searcher": {"suggested": searcher.stats["suggested"]}}
    print("SUMMARY " + json.dumps(summary))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
