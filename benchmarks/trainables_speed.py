"""Throughput of the image trainable's loop versus a bare airbench-style loop, per model.

For each model, trains on Fashion-MNIST with `trainables.loop.fit` (gradient norms, metrics, schedule,
one host sync per epoch) and with a minimal loop over the same model, data tensors and optimizer
(index slices of device tensors, forward, backward, step; nothing else). Both time the second pass
only, so allocation and (on CUDA) kernel selection are excluded. The two loops alternate for
``--repeats`` rounds and the fastest round of each is kept: on a shared machine, other processes
otherwise decide the comparison.

Usage::

    python -m benchmarks.trainables_speed --device cpu --batches 20
    python -m benchmarks.trainables_speed --device cuda --batches 200 --models resnet9 vit
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from typing import Any

import torch
import torch.nn.functional as F

from trainables.config import TrainConfig
from trainables.data.device import device_dataset
from trainables.loop import fit, resolve_device
from trainables.models import build_model

MODELS = ("flawed_cnn", "resnet9", "vit", "spec_cnn")


def _trainable_run(config: TrainConfig) -> dict[str, Any]:
    """The library loop; its second epoch's report carries warm throughput numbers."""
    reports: list[dict[str, Any]] = []
    fit(config, report=lambda metrics, _directory: reports.append(metrics))
    return reports[-1]


def _minimal_run(config: TrainConfig, device: torch.device, batches: int) -> float:
    """airbench-style reference: returns seconds for ``batches`` steps after a warm-up pass."""
    data = device_dataset(config.dataset, device=device)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.learning_rate, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    size = config.batch_size

    def one_pass() -> None:
        order = torch.randperm(len(data.train_labels), device=device)
        for step in range(batches):
            index = order[step * size : (step + 1) * size]
            x = (data.train_images[index].float() / 255.0 - data.mean) / data.std
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), data.train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    one_pass()
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    one_pass()
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def benchmark(device_name: str, models: list[str], batches: int, batch_size: int, repeats: int) -> list[dict[str, Any]]:
    """Run both loops ``repeats`` times for each model on one device; one row per model (best rounds)."""
    device = resolve_device(device_name)
    rows = []
    for model in models:
        config = TrainConfig.from_dict(
            {
                "dataset": "fashion_mnist",
                "model": model,
                "device": str(device),
                "epochs": 2,
                "max_train_batches": batches,
                "max_eval_batches": 1,
                "batch_size": batch_size,
                "optimizer": "sgd_nesterov",
                "learning_rate": 0.01,
                "schedule": "constant",
            }
        )
        ours_runs, reference_runs = [], []
        for _ in range(repeats):
            ours_runs.append(_trainable_run(config))
            reference_runs.append(_minimal_run(config, device, batches))
        ours = min(ours_runs, key=lambda report: report["epoch_time_s"])
        reference_s = min(reference_runs)
        reference_ips = batches * batch_size / reference_s
        rows.append(
            {
                "device": str(device),
                "model": model,
                "params": ours["num_params"],
                "ours_ips": ours["images_per_s"],
                "ours_s": ours["epoch_time_s"],
                "ref_ips": reference_ips,
                "ref_s": reference_s,
                "full_epoch_s": 54_000 / ours["images_per_s"],
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], batches: int, batch_size: int, repeats: int) -> str:
    header = (
        f"| device | model | params | trainable img/s | trainable s / {batches} batches | minimal loop img/s | "
        f"minimal loop s / {batches} batches | trainable vs minimal | est. full epoch s (54k) |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['model']} | {r['params']:,} | {r['ours_ips']:,.0f} | {r['ours_s']:.2f} | "
            f"{r['ref_ips']:,.0f} | {r['ref_s']:.2f} | {r['ours_ips'] / r['ref_ips']:.2f}x | {r['full_epoch_s']:.0f} |"
        )
    lines.append(
        f"\nbatch size {batch_size}, fashion_mnist (28x28x1), default model sizes, best of {repeats} rounds, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {platform.machine()}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda, cuda:N, or all (cpu plus cuda when present)")
    parser.add_argument("--batches", type=int, default=20, help="training batches timed per model")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds per model; the best is kept")
    args = parser.parse_args(argv)
    devices = [args.device]
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [
        row for device in devices for row in benchmark(device, args.models, args.batches, args.batch_size, args.repeats)
    ]
    print(_table(rows, args.batches, args.batch_size, args.repeats))


if __name__ == "__main__":
    main()
