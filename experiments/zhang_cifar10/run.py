"""Zhang et al. (2023)'s CIFAR-10 experiment: ResNet-9 and a ViT, LLM-proposed configs vs random search.

    python experiments/zhang_cifar10/run.py                       # Fashion-MNIST on CPU (long)
    python experiments/zhang_cifar10/run.py --dataset cifar10 --data-dir ~/data/cifar-10-batches-py \\
        --device cuda --backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0
    python experiments/zhang_cifar10/run.py --smoke               # the pipeline in well under a minute

Search space (``benchmarks.problems.image_space``): optimizer, learning rate, batch size, weight
decay, label smoothing. Every (model, seed, method) run goes through the benchmark runner
(``benchmarks.execute.run_all``: same trainable, budget, seed and concurrency for every method;
resumable), into ``--out`` in the benchmark's tidy-table layout, and a markdown report is written
beside it (``report.md``). See README.md in this directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

DEFAULTS = {"budget": 20, "epochs": 10, "seeds": "0-4"}
SMOKE = {"budget": 2, "epochs": 1, "seeds": "0", "max_train_batches": 1, "max_eval_batches": 1}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Zhang et al.'s CIFAR-10 HPO experiment (LLM vs random search)")
    parser.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "cifar10"])
    parser.add_argument("--models", default="resnet9,vit", help="comma-separated: resnet9, vit")
    parser.add_argument("--methods", default="llm-local,random", help="benchmark method names")
    parser.add_argument("--backend", default="local", help="LLM backend spec (default: the embedded model)")
    parser.add_argument("--seeds", help=f"seeds (default {DEFAULTS['seeds']})")
    parser.add_argument("--budget", type=int, help=f"trials per run (default {DEFAULTS['budget']})")
    parser.add_argument("--epochs", type=int, help=f"epochs per trial (default {DEFAULTS['epochs']})")
    parser.add_argument("--concurrency", type=int, default=1, help="trials at once (default 1)")
    parser.add_argument("--device", default="auto", help="torch device of the trials: auto, cpu, cuda...")
    parser.add_argument(
        "--gpus-per-trial", type=float, help="Ray GPU resources per trial (default: 1 with --device cuda*, else 0)"
    )
    parser.add_argument("--data-dir", help="data set directory (CIFAR-10: the cifar-10-batches-py folder)")
    parser.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--out", help="results directory (default results/zhang_<dataset>; --smoke: a temp dir)")
    parser.add_argument(
        "--smoke", action="store_true", help="2 trials of 1 epoch on 1 batch, one seed, CPU: checks the pipeline"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and write its report; 0 if every run started."""
    from benchmarks.execute import RunSpec, ensure_ray, run_all
    from benchmarks.problems import image_problem
    from benchmarks.report import build_report
    from benchmarks.suites import parse_seeds

    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = {**DEFAULTS, **(SMOKE if args.smoke else {})}
    budget = args.budget or settings["budget"]
    epochs = args.epochs or settings["epochs"]
    seeds = parse_seeds(args.seeds or settings["seeds"])
    device = "cpu" if args.smoke else args.device
    out = Path(args.out or (tempfile.mkdtemp(prefix="zhang-smoke-") if args.smoke else f"results/zhang_{args.dataset}"))
    gpus = args.gpus_per_trial if args.gpus_per_trial is not None else float(device.startswith("cuda"))
    resources = {"cpu": 1.0, **({"gpu": gpus} if gpus else {})}
    problems = [
        image_problem(
            args.dataset,
            model,
            epochs=epochs,
            name=f"zhang/{args.dataset}_{model}",
            device=device,
            max_train_batches=settings.get("max_train_batches"),
            max_eval_batches=settings.get("max_eval_batches"),
            resources=resources,
            data_dir=args.data_dir,
        )
        for model in args.models.split(",")
    ]
    specs = [
        RunSpec(method, problem, seed=seed, budget=budget, concurrency=args.concurrency, backend=args.backend)
        for problem in problems
        for seed in seeds
        for method in args.methods.split(",")
    ]
    print(f"{len(specs)} runs: {args.models} on {args.dataset}, {budget} trials x {epochs} epochs -> {out}")
    ensure_ray(os.cpu_count() or 2, args.address)
    failed = run_all(specs, out)
    build_report(out, out / "report.md")
    print(f"report: {out / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
