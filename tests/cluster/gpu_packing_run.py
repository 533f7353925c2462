"""Fractional-GPU trials on a Ray node that declares GPUs: how many run at once, and what each is given.

    python -m tests.cluster.gpu_packing_run <storage dir> --gpus 1 --gpu-per-trial 0.25 --trials 4

Run as its own process because it owns its Ray (a node of 2 CPUs and ``--gpus`` declared GPUs: Ray
places and isolates trials by its resource bookkeeping and ``CUDA_VISIBLE_DEVICES``, which works the
same whether or not the GPUs are real). Each trial is the real `train_image_classifier` on digits
(its ``device: auto`` picks the GPU Ray gave it where CUDA exists, else the CPU), wrapped to record
what Ray gave it and to wait, up to ``--barrier-s``, until every trial has started: trials that
run side by side all pass the barrier; trials that Ray had to queue time out at it. Prints a JSON
summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import ray
from ray import tune
from ray.cluster_utils import Cluster

from trainables import train_image_classifier
from trainables.loop import resolve_device


def packed_trial(config: dict) -> None:
    beacons = config.pop("beacons")
    trials, barrier_s = config.pop("trials"), config.pop("barrier_s")
    started, arrived = time.time(), os.path.join(beacons, "started")
    open(os.path.join(arrived, str(os.getpid())), "w").close()
    while len(os.listdir(arrived)) < trials and time.time() - started < barrier_s:
        time.sleep(0.1)
    seen = {
        "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": str(resolve_device("auto")),
        "waited_s": round(time.time() - started, 2),
        "others_started": len(os.listdir(arrived)) - 1,
    }
    with open(os.path.join(beacons, "seen", f"{os.getpid()}.json"), "w") as f:
        json.dump(seen, f)
    train_image_classifier(config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("storage")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--gpu-per-trial", type=float, default=0.25)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--barrier-s", type=float, default=20.0)
    args = parser.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": args.gpus})
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    os.makedirs(args.storage, exist_ok=True)
    beacons = tempfile.mkdtemp(prefix="beacons-", dir=args.storage)
    for sub in ("started", "seen"):
        os.makedirs(os.path.join(beacons, sub))
    cpus = 2 / args.trials  # CPUs never limit the packing: the GPU share does
    trainable = tune.with_resources(packed_trial, {"cpu": cpus, "gpu": args.gpu_per_trial})
    space = {
        "dataset": "digits",
        "model": "flawed_cnn",
        "epochs": 1,
        "device": "auto",
        "learning_rate": tune.grid_search([0.01 * (i + 1) for i in range(args.trials)]),
        "beacons": beacons,
        "trials": args.trials,
        "barrier_s": args.barrier_s,
    }
    grid = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=args.storage, name="packing", verbose=0),
    ).fit()
    seen_dir = os.path.join(beacons, "seen")
    seen = [json.load(open(os.path.join(seen_dir, name))) for name in os.listdir(seen_dir)]
    summary = {"errors": [str(r.error) for r in grid if r.error], "trials": seen}
    print("SUMMARY " + json.dumps(summary))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
