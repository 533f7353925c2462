"""The AWS flawed-CNN experiment: an LLM redesigns a deliberately bad network from its results and gradients.

    python experiments/flawed_cnn/run.py                      # Fashion-MNIST on CPU, embedded models
    python experiments/flawed_cnn/run.py --dataset cifar10 --data-dir ~/data/cifar-10-batches-py \\
        --device cuda --backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0 \\
        --code-backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0
    python experiments/flawed_cnn/run.py --smoke              # the pipeline, minutes on 2 cores

Three arms at equal epochs per trial, each trial ending with a test-set evaluation:

- ``flawed``: the flawed CNN as given (one 3x3 conv, a sigmoid, a huge linear layer), SGD with
  learning rate 0.1 and no momentum: one trial.
- ``llm``: ``LLMSearcher`` with ``architectures=``: it starts from that same trial, proposes
  hyperparameters, and every few trials the code writer (default: the embedded
  Qwen2.5-Coder-1.5B) writes a network from each architecture's results and gradient diagnosis;
  validated networks join the search.
- ``resnet9``: ResNet-9 with its hyperparameters tuned by Optuna TPE, the same number of trials.

The report (``<out>/report.md``) gives each arm's best trial by validation accuracy, that trial's
test accuracy, and the LLM calls, LLM seconds and networks written. See README.md here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

DEFAULTS = {"trials": 10, "epochs": 3, "max_train_batches": 100, "max_eval_batches": 20}
SMOKE = {"trials": 3, "epochs": 1, "max_train_batches": 2, "max_eval_batches": 2}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="The AWS flawed-CNN redesign experiment")
    parser.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "cifar10", "digits"])
    parser.add_argument("--backend", default="local:qwen2.5-coder-0.5b", help="LLM for hyperparameters")
    parser.add_argument("--code-backend", default="local:qwen2.5-coder-1.5b", help="LLM that writes/fixes networks")
    parser.add_argument("--strategy", default="llm", choices=["llm", "rank"], help="the LLM arm's strategy")
    parser.add_argument(
        "--form", default="code", choices=["code", "spec"], help="networks as PyTorch code or as JSON specs"
    )
    parser.add_argument("--trials", type=int, help=f"trials per searching arm (default {DEFAULTS['trials']})")
    parser.add_argument("--epochs", type=int, help=f"epochs per trial (default {DEFAULTS['epochs']})")
    parser.add_argument("--max-train-batches", type=int, help="training batches per epoch (default 100; 0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="torch device of the trials")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial (fractions pack trials)")
    parser.add_argument("--data-dir", help="data set directory")
    parser.add_argument("--arms", default="flawed,llm,resnet9", help="comma-separated: flawed, llm, resnet9")
    parser.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--out", default="results/flawed_cnn", help="output directory")
    parser.add_argument("--smoke", action="store_true", help="3 trials of 1 epoch on 2 batches: checks the pipeline")
    return parser


def _best(results: Any) -> dict[str, Any]:
    done = [r for r in results if r.error is None and r.metrics and "val_acc" in r.metrics]
    if not done:
        return {"trials": len(results), "failed": len(results)}
    best = max(done, key=lambda r: r.metrics["val_acc"])
    model = best.config.get("model")
    return {
        "trials": len(results),
        "failed": len(results) - len(done),
        "best_val_acc": round(best.metrics["val_acc"], 4),
        "test_acc": round(best.metrics.get("test_acc", float("nan")), 4),
        "best_model": f"code:{best.config.get('arch_hash')}" if model == "code" else model,
        "best_config": {k: best.config[k] for k in ("optimizer", "learning_rate") if k in best.config},
    }


def run_experiment(
    settings: dict[str, Any],
    *,
    dataset: str = "fashion_mnist",
    backend: Any = "local:qwen2.5-coder-0.5b",
    code_backend: Any = "local:qwen2.5-coder-1.5b",
    strategy: str = "llm",
    form: str = "code",
    arms: tuple[str, ...] = ("flawed", "llm", "resnet9"),
    seed: int = 0,
    device: str = "cpu",
    gpus_per_trial: float = 0.0,
    data_dir: str | None = None,
    out: Path = Path("results/flawed_cnn"),
) -> dict[str, dict[str, Any]]:
    """Run the arms; returns one row per arm (also written to ``<out>/arms.json`` and ``report.md``)."""
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from llm_search import LLMSearcher
    from llm_search.arch import sandbox
    from llm_search.arch.code_prompts import ArchTask
    from llm_search.arch.search import ArchitectureConfig
    from trainables import train_image_classifier
    from trainables.config import INPUT_SHAPES, NUM_CLASSES
    from trainables.models.flawed_cnn import AWS_START, DESCRIPTION, aws_trial_settings

    out.mkdir(parents=True, exist_ok=True)
    base = aws_trial_settings(
        dataset,
        **{key: settings[key] for key in ("epochs", "max_train_batches", "max_eval_batches")},
        seed=seed,
        device=device,
        data_dir=data_dir,
    )
    hyper = {
        "optimizer": tune.choice(["sgd", "sgd_momentum", "adam", "adamw"]),
        "learning_rate": tune.loguniform(1e-4, 0.3),
    }
    rows: dict[str, dict[str, Any]] = {}

    def tuner(trainable: Any, space: dict[str, Any], name: str, **tune_config: Any) -> Any:
        if gpus_per_trial:
            trainable = tune.with_resources(trainable, {"cpu": 1, "gpu": gpus_per_trial})
        return tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(metric="val_acc", mode="max", max_concurrent_trials=1, **tune_config),
            run_config=tune.RunConfig(storage_path=str(out.resolve()), name=name, verbose=0),
        ).fit()

    def validate(source: str, **kwargs: Any) -> Any:
        return sandbox.validate_model_code(source, **kwargs)

    if "flawed" in arms:
        start = time.perf_counter()
        rows["flawed"] = {**_best(tuner(train_image_classifier, {**base, **AWS_START}, "flawed")), "llm_calls": 0}
        rows["flawed"]["seconds"] = round(time.perf_counter() - start, 1)
    if "llm" in arms:
        task = ArchTask(
            f"{dataset}: {'x'.join(map(str, INPUT_SHAPES[dataset]))} images, {NUM_CLASSES} classes; "
            f"{settings['epochs']} epochs per trial on a small budget",
            INPUT_SHAPES[dataset],
            NUM_CLASSES,
            max_params=2_000_000,
        )
        searcher = LLMSearcher(
            backend=backend,
            strategy=strategy,
            roles={"code_writer": code_backend, "code_fixer": code_backend, "spec_writer": code_backend},
            architectures=ArchitectureConfig(
                task, form=form, first_after=2, redesign_every=3, descriptions={"flawed_cnn": DESCRIPTION}
            ),
            points_to_evaluate=[AWS_START],
            prefetch=0,  # one trial at a time: each proposal sees every finished trial
            task="Redesign and tune a deliberately flawed image classifier to maximize validation accuracy.",
            seed=seed,
        )
        start = time.perf_counter()
        space = {**base, "model": tune.choice(["flawed_cnn"]), **hyper}
        results = tuner(
            tune.with_parameters(train_image_classifier, validate=validate),
            space,
            "llm",
            search_alg=searcher,
            num_samples=settings["trials"],
        )
        stats = searcher.stats
        rows["llm"] = {
            **_best(results),
            "llm_calls": stats["llm_calls"],
            "llm_seconds": round(stats["llm_seconds"], 1),
            "networks_written": stats.get("networks_written", 0),
            "network_llm_calls": stats.get("network_llm_calls", 0),
            "network_llm_seconds": stats.get("network_llm_seconds", 0.0),
            "seconds": round(time.perf_counter() - start, 1),
        }
    if "resnet9" in arms:
        start = time.perf_counter()
        sampler = optuna.samplers.TPESampler(seed=seed)
        results = tuner(
            train_image_classifier,
            {**base, "model": "resnet9", "width": 32, **hyper},
            "resnet9",
            search_alg=OptunaSearch(sampler=sampler),
            num_samples=settings["trials"],
        )
        rows["resnet9"] = {**_best(results), "llm_calls": 0, "seconds": round(time.perf_counter() - start, 1)}
    (out / "arms.json").write_text(json.dumps(rows, indent=1))
    _write_report(out, rows, settings, dataset, backend, code_backend)
    return rows


def _write_report(out: Path, rows: dict, settings: dict, dataset: str, backend: Any, code_backend: Any) -> None:
    from benchmarks.results import git_sha

    sha = git_sha()  # cached when the run started: a commit made meanwhile does not relabel it
    lines = [
        "# The flawed-CNN experiment",
        "",
        f"- Command: `python experiments/flawed_cnn/run.py {' '.join(sys.argv[1:])}`; git {sha}",
        f"- Machine: {platform.machine()}, {platform.python_version()}; data set {dataset}; "
        f"{settings['trials']} trials x {settings['epochs']} epochs ({settings['max_train_batches'] or 'all'} "
        "training batches per epoch)",
        f"- LLMs: hyperparameters {backend}, code {code_backend}",
        "",
        "| arm | trials (failed) | best model | best val_acc | its test_acc | config LLM calls / s "
        "| network LLM calls / s | networks written | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, row in rows.items():
        lines.append(
            f"| {arm} | {row.get('trials')} ({row.get('failed', 0)}) | {row.get('best_model', '-')} | "
            f"{row.get('best_val_acc', '-')} | {row.get('test_acc', '-')} | {row.get('llm_calls', 0)} / "
            f"{row.get('llm_seconds', 0)} | {row.get('network_llm_calls', 0)} / {row.get('network_llm_seconds', 0)} "
            f"| {row.get('networks_written', '-')} | {row.get('seconds', '-')} |"
        )
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from benchmarks.execute import ensure_ray
    from benchmarks.results import git_sha

    git_sha()  # the commit the run starts at, cached for the report written at its end

    ensure_ray(os.cpu_count() or 2, args.address)
    settings = {**DEFAULTS, **(SMOKE if args.smoke else {})}
    for key in ("trials", "epochs", "max_train_batches"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    rows = run_experiment(
        settings,
        dataset=args.dataset,
        backend=args.backend,
        code_backend=args.code_backend,
        strategy=args.strategy,
        form=args.form,
        arms=tuple(args.arms.split(",")),
        seed=args.seed,
        device=args.device,
        gpus_per_trial=args.gpus_per_trial,
        data_dir=args.data_dir,
        out=Path(args.out),
    )
    print((Path(args.out) / "report.md").read_text())
    return 0 if all("best_val_acc" in row for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
