"""Trials per hour with 1, 2 and 4 trials packed per GPU, and a data-parallel trial's throughput.

    python -m benchmarks.gpu_packing --per-gpu 1,2,4 --trials 8 --out results/gpu-packing     # a GPU machine
    python -m benchmarks.gpu_packing --ddp-workers 1,2,4 --out results/gpu-packing            # N GPUs per trial
    python -m benchmarks.gpu_packing --fake-gpus 1 --dataset digits --per-gpu 1,2 --trials 2  # the pipeline, CPU

Packing: ``--trials`` trials of the image trainable (ResNet-9 on Fashion-MNIST by default, fixed
epochs and hyperparameters) through Tune with ``tune.with_resources(..., {"gpu": 1/k})`` for each k
of ``--per-gpu``; the figure is finished trials per hour of wall time, and the mean training
throughput (images/s) per trial. Small models leave most of a large GPU idle, which packing uses.
DDP: one trial of ``trainables.ddp.ddp_image_classifier`` with N GPU workers for each N of
``--ddp-workers``: training images/s (all workers together) and seconds per epoch.

One JSON line per configuration goes to ``<out>/gpu_packing.jsonl``; the table is printed.
``--fake-gpus N`` declares N GPUs to Ray on a machine without them (trials then train on the CPU):
for checking the pipeline, never for figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any


def _config(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    config = {
        "dataset": args.dataset,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": "sgd_nesterov",
        "learning_rate": 0.05,
        "schedule": "cosine",
        "device": "auto",
        "seed": seed,
    }
    if args.data_dir:
        config["data_dir"] = args.data_dir
    return config


def packing_row(args: argparse.Namespace, per_gpu: int, storage: Path) -> dict[str, Any]:
    """Run ``args.trials`` trials at ``1/per_gpu`` GPU each; trials per hour and images/s."""
    import ray
    from ray import tune

    from trainables import train_image_classifier

    gpus = ray.cluster_resources().get("GPU", 0)
    cpus = ray.cluster_resources().get("CPU", 1)
    slots = max(1, int(gpus * per_gpu))
    trainable = tune.with_resources(train_image_classifier, {"cpu": cpus / slots, "gpu": 1 / per_gpu})
    space = {**_config(args, 0), "seed": tune.grid_search(list(range(args.trials)))}
    start = time.perf_counter()
    results = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=str(storage.resolve()), name=f"packing-{per_gpu}", verbose=0),
    ).fit()
    wall = time.perf_counter() - start
    done = [r for r in results if r.error is None and r.metrics]
    return {
        "kind": "packing",
        "trials_per_gpu": per_gpu,
        "gpus": gpus,
        "trials": len(results),
        "failed": len(results) - len(done),
        "wall_s": round(wall, 1),
        "trials_per_hour": round(3600 * len(done) / wall, 1),
        "images_per_s_per_trial": round(sum(r.metrics["images_per_s"] for r in done) / max(1, len(done)), 1),
        "best_val_acc": round(max((r.metrics["val_acc"] for r in done), default=float("nan")), 4),
    }


def ddp_row(args: argparse.Namespace, workers: int, storage: Path) -> dict[str, Any]:
    """One trial on ``workers`` GPU workers: training images/s and seconds per epoch."""
    from ray import tune

    from trainables.ddp import ddp_image_classifier

    if args.fake_gpus:  # CPU workers small enough to fit beside each other on the pipeline-check machine
        trainable = ddp_image_classifier(num_workers=workers, resources_per_worker={"CPU": 1 / workers})
    else:
        trainable = ddp_image_classifier(num_workers=workers, use_gpu=True)
    start = time.perf_counter()
    (result,) = tune.Tuner(
        trainable,
        param_space=_config(args, 0),
        tune_config=tune.TuneConfig(metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=str(storage.resolve()), name=f"ddp-{workers}", verbose=0),
    ).fit()
    history = result.metrics_dataframe
    warm = history.iloc[1:] if history is not None and len(history) > 1 else history
    return {
        "kind": "ddp",
        "workers": workers,
        "failed": int(result.error is not None),
        "wall_s": round(time.perf_counter() - start, 1),
        "images_per_s": round(float(warm["images_per_s"].mean()), 1) if warm is not None else None,
        "epoch_s": round(float(warm["epoch_time_s"].mean()), 2) if warm is not None else None,
        "val_acc": round(float(history["val_acc"].iloc[-1]), 4) if history is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-gpu", default="1,2,4", help="trials per GPU to measure ('' to skip)")
    parser.add_argument("--ddp-workers", default="", help="GPU workers per data-parallel trial, e.g. 1,2,4")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model", default="resnet9")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--fake-gpus", type=int, default=0, help="declare GPUs that are not there (pipeline check)")
    parser.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--out", default="results/gpu-packing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if args.fake_gpus:
        options.update(num_cpus=2, num_gpus=args.fake_gpus)
    elif args.address or os.environ.get("RAY_ADDRESS"):
        options = {"address": args.address or os.environ["RAY_ADDRESS"], "log_to_driver": False}
    ray.init(**options)
    rows = [packing_row(args, int(k), out / "tune") for k in args.per_gpu.split(",") if k]
    rows += [ddp_row(args, int(n), out / "tune") for n in args.ddp_workers.split(",") if n]
    machine = f"{platform.node()} ({'fake GPUs' if args.fake_gpus else 'real GPUs'})"
    with open(out / "gpu_packing.jsonl", "a", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps({**row, "model": args.model, "dataset": args.dataset, "machine": machine}) + "\n")
    print(f"{args.model} on {args.dataset}, {args.epochs} epochs, batch {args.batch_size}; {machine}")
    for row in rows:
        if row["kind"] == "packing":
            print(
                f"  {row['trials_per_gpu']} per GPU: {row['trials_per_hour']:8.1f} trials/h, "
                f"{row['images_per_s_per_trial']:9.1f} img/s per trial, {row['failed']} failed, "
                f"best {row['best_val_acc']}"
            )
        else:
            print(f"  DDP {row['workers']} workers: {row['images_per_s']} img/s, {row['epoch_s']} s/epoch")
    ray.shutdown()
    return 0 if all(not row["failed"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
