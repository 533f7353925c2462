"""The AWS workflow end to end: a searcher and a training supervisor on the flawed CNN, beside ASHA and PBT.

    python experiments/supervised_cnn/run.py --seeds 0-2        # Fashion-MNIST on CPU, embedded models
    python experiments/supervised_cnn/run.py --smoke --dataset digits   # the pipeline, minutes on 2 cores
    python experiments/supervised_cnn/run.py --dataset cifar10 --data-dir ~/data/cifar-10-batches-py \\
        --device cuda --gpus-per-trial 0.5 --backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0 \\
        --analyst-backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0 \\
        --code-backend bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0

Four arms, each (but PBT's) the same searcher (``LLMSearcher`` with architecture search, starting from the
flawed CNN with SGD at learning rate 0.1 and no momentum), the same number of trials, the same
epochs per trial and the same concurrency; only the scheduler differs:

- ``none``: no supervision (FIFO): every trial runs all its epochs.
- ``asha``: ASHA stops the worse half of the trials at each rung (grace period 2 epochs).
- ``pbt``: PBT, every 2 epochs the worst quarter copies a top trial's checkpoint and perturbs its
  learning rate. Tune refuses a searcher beside PBT, so its population is the flawed config plus
  random draws of the same space (no networks are written in this arm).
- ``llm``: ``LLMSupervisor``: every 2 epochs the analyst reads the trial's curves and per-layer gradient
  norms and continues, adjusts the learning rate (from the latest checkpoint), asks the searcher to
  redesign the network, or stops the trial.

The table (``<out>/report.md``) gives, per arm (mean ± sd over ``--seeds``, then per seed), the
best validation accuracy and that trial's test accuracy, the epochs trained in all (ASHA and a
stopping supervisor save epochs), the LLM calls and seconds of the searcher and of the analyst, and
the supervisor's actions. ``llm-search report <out>/seed<N>/<arm>`` draws any arm's trials. See
README.md here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULTS = {"trials": 6, "epochs": 6, "max_train_batches": 100, "max_eval_batches": 20, "concurrency": 2}
SMOKE = {"trials": 3, "epochs": 4, "max_train_batches": 2, "max_eval_batches": 2, "concurrency": 2}
ARMS = ("none", "asha", "pbt", "llm")
LEARNING_RATES = (1e-4, 0.3)
INTERVAL = 2  # epochs between two looks of PBT and of the supervisor; ASHA's grace period


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Supervision arms on the flawed CNN at equal epochs and trials")
    parser.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "cifar10", "digits"])
    parser.add_argument("--backend", default="local:qwen2.5-coder-0.5b", help="the searcher's LLM")
    parser.add_argument("--analyst-backend", default="local:qwen2.5-coder-1.5b", help="the supervisor's LLM")
    parser.add_argument("--code-backend", default="local:qwen2.5-coder-0.5b", help="the LLM that writes networks")
    parser.add_argument("--form", default="spec", choices=["code", "spec"], help="networks as JSON specs or code")
    parser.add_argument("--trials", type=int, help=f"trials per arm (default {DEFAULTS['trials']})")
    parser.add_argument("--epochs", type=int, help=f"epochs per trial (default {DEFAULTS['epochs']})")
    parser.add_argument("--max-train-batches", type=int, help="training batches per epoch (default 100; 0: all)")
    parser.add_argument("--concurrency", type=int, help="trials at once (default 2)")
    parser.add_argument("--seeds", default="0", help="seeds, e.g. 0-2: each runs every arm (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device of the trials")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial (fractions pack trials)")
    parser.add_argument("--data-dir", help="data set directory")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--out", default="results/supervised_cnn", help="output directory")
    parser.add_argument("--smoke", action="store_true", help="3 trials of 4 epochs on 2 batches")
    return parser


def _curve(result: Any) -> Any:
    """A trial's reports: its progress.csv, which keeps every report of a paused and resumed trial
    (the result grid's metrics_dataframe kept only some of them in the supervised arm); else Tune's frame."""
    import pandas as pd

    path = Path(result.path) / "progress.csv" if result.path else None
    if path is not None and path.is_file():
        try:
            return pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):  # a trial that never reported
            pass
    return result.metrics_dataframe


def summarize(results: Any) -> dict[str, Any]:
    """One arm's row: trials, failures, epochs trained, the best trial by validation accuracy."""
    frames = {id(r): _curve(r) for r in results}
    curves = {key: frame for key, frame in frames.items() if frame is not None and "val_acc" in frame}
    row: dict[str, Any] = {"trials": len(results), "failed": sum(r.error is not None for r in results)}
    row["epochs_trained"] = sum(len(frame) for frame in curves.values())
    scored = [r for r in results if id(r) in curves]
    if not scored:
        return row
    best = max(scored, key=lambda r: curves[id(r)]["val_acc"].max())
    row["best_val_acc"] = round(float(curves[id(best)]["val_acc"].max()), 4)
    row["test_acc"] = round(float(best.metrics.get("test_acc", float("nan"))), 4)
    model = best.config.get("model")
    row["best_model"] = model if isinstance(model, str) else "spec_cnn"
    row["best_config"] = {k: best.config[k] for k in ("optimizer", "learning_rate") if k in best.config}
    return row


def _scheduler(arm: str, settings: dict[str, Any], searcher: Any, analyst_backend: Any, seed: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    from llm_search import LLMSupervisor

    learning_rate = tune.loguniform(*LEARNING_RATES)
    if arm == "none":
        return FIFOScheduler()
    if arm == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=settings["epochs"], grace_period=INTERVAL)
    if arm == "pbt":
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=INTERVAL,
            hyperparam_mutations={"learning_rate": learning_rate},
            quantile_fraction=0.25,
            synch=False,
        )
    return LLMSupervisor(
        analyst_backend,
        analyze_interval=INTERVAL,
        adjustable={"learning_rate": learning_rate},
        searcher=searcher,
        task="an image classifier trained a few epochs; the flawed CNN is the starting point",
    )


def run_arm(
    arm: str,
    settings: dict[str, Any],
    *,
    dataset: str,
    backend: Any,
    analyst_backend: Any,
    code_backend: Any,
    form: str,
    seed: int,
    device: str,
    gpus_per_trial: float,
    data_dir: str | None,
    out: Path,
) -> dict[str, Any]:
    """Run one arm (one Tuner) and return its row."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    from llm_search import LLMSearcher
    from llm_search.arch import sandbox
    from llm_search.arch.code_prompts import ArchTask
    from llm_search.arch.search import ArchitectureConfig
    from trainables import train_image_classifier
    from trainables.config import INPUT_SHAPES, NUM_CLASSES
    from trainables.models.flawed_cnn import AWS_START, DESCRIPTION, aws_trial_settings

    task = ArchTask(
        f"{dataset}: {'x'.join(map(str, INPUT_SHAPES[dataset]))} images, {NUM_CLASSES} classes; "
        f"{settings['epochs']} epochs per trial on a small budget",
        INPUT_SHAPES[dataset],
        NUM_CLASSES,
        max_params=2_000_000,
    )
    searcher = LLMSearcher(
        backend=backend,
        strategy="llm",  # the LLM proposes every trial: the arms differ only in the scheduler
        roles={"code_writer": code_backend, "code_fixer": code_backend, "spec_writer": code_backend},
        architectures=ArchitectureConfig(
            task, form=form, first_after=2, redesign_every=3, descriptions={"flawed_cnn": DESCRIPTION}
        ),
        points_to_evaluate=[AWS_START],
        task="Redesign and tune a deliberately flawed image classifier to maximize validation accuracy.",
        seed=seed,
    )
    scheduler = _scheduler(arm, settings, searcher, analyst_backend, seed)
    # Tune refuses a searcher beside PBT: its population is the flawed config plus random draws of the space.
    search_alg = (
        BasicVariantGenerator(points_to_evaluate=[AWS_START], max_concurrent=settings["concurrency"], random_state=seed)
        if arm == "pbt"
        else searcher
    )
    space = {
        **aws_trial_settings(
            dataset,
            **{key: settings[key] for key in ("epochs", "max_train_batches", "max_eval_batches")},
            seed=seed,
            device=device,
            data_dir=data_dir,
        ),
        "model": tune.choice(["flawed_cnn"]),
        "optimizer": tune.choice(["sgd", "sgd_momentum", "adam", "adamw"]),
        "learning_rate": tune.loguniform(*LEARNING_RATES),
    }

    def validate(source: str, **kwargs: Any) -> Any:
        return sandbox.validate_model_code(source, **kwargs)

    trainable = tune.with_parameters(train_image_classifier, validate=validate)
    if gpus_per_trial:
        trainable = tune.with_resources(trainable, {"cpu": 1, "gpu": gpus_per_trial})
    start = time.perf_counter()
    results = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="val_acc",
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings["trials"],
            max_concurrent_trials=None if arm == "pbt" else settings["concurrency"],
        ),
        run_config=tune.RunConfig(storage_path=str(out.resolve()), name=arm, verbose=0),
    ).fit()
    row = summarize(results)
    stats = searcher.stats
    row.update(
        seconds=round(time.perf_counter() - start, 1),
        searcher_calls=stats["llm_calls"],
        searcher_seconds=round(stats["llm_seconds"], 1),
        networks_written=stats.get("networks_written", 0),
        network_llm_calls=stats.get("network_llm_calls", 0),
        network_llm_seconds=stats.get("network_llm_seconds", 0.0),
    )
    decisions = getattr(scheduler, "decisions", [])
    row["analyst_calls"] = len(decisions)
    row["analyst_seconds"] = round(sum(d["latency_s"] for d in decisions), 1)
    row["actions"] = dict(Counter(d["action"] for d in decisions))
    return row


def _mean(values: list[float]) -> str:
    values = [v for v in values if v == v]  # NaN: an arm without a finished trial
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.4f} ± {spread:.4f}"


def write_report(
    out: Path, runs: dict[int, dict[str, dict[str, Any]]], arms: tuple[str, ...], settings: dict, llms: dict
) -> Path:
    """The arms' table (mean ± sd over seeds, then each seed) as markdown, with the command, commit and machine."""
    from benchmarks.results import git_sha

    sha = git_sha()  # cached when the run started: a commit made meanwhile does not relabel it
    seeds = sorted(runs)
    lines = [
        "# Supervision arms on the flawed CNN",
        "",
        f"- Command: `python experiments/supervised_cnn/run.py {' '.join(sys.argv[1:])}`; git {sha}",
        f"- Machine: {platform.machine()}, {platform.node()}, Python {platform.python_version()}",
        f"- {settings['trials']} trials x up to {settings['epochs']} epochs per arm "
        f"({settings['max_train_batches'] or 'all'} training batches per epoch), {settings['concurrency']} at once; "
        f"seeds {', '.join(map(str, seeds))}",
        f"- LLMs: searcher {llms['backend']}, analyst {llms['analyst']}, networks {llms['code']}",
        "",
        "| arm | best val_acc | its test_acc | epochs trained | analyst calls | actions | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm in arms:
        rows = [runs[seed][arm] for seed in seeds]
        actions: Counter = Counter()
        for row in rows:
            actions.update(row.get("actions", {}))
        lines.append(
            f"| {arm} | {_mean([r.get('best_val_acc', float('nan')) for r in rows])} "
            f"| {_mean([r.get('test_acc', float('nan')) for r in rows])} "
            f"| {sum(r['epochs_trained'] for r in rows) / len(rows):.1f} "
            f"| {sum(r['analyst_calls'] for r in rows) / len(rows):.1f} "
            f"| {', '.join(f'{k} {v}' for k, v in sorted(actions.items())) or '-'} "
            f"| {sum(r['seconds'] for r in rows) / len(rows):.0f} |"
        )
    lines += [
        "",
        "Each seed:",
        "",
        "| seed | arm | trials (failed) | epochs trained | best model | best val_acc | its test_acc "
        "| searcher calls / s | network calls / s (written) | analyst calls / s | actions | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed in seeds:
        for arm in arms:
            row = runs[seed][arm]
            actions_text = ", ".join(f"{k} {v}" for k, v in sorted(row.get("actions", {}).items())) or "-"
            lines.append(
                f"| {seed} | {arm} | {row['trials']} ({row['failed']}) | {row['epochs_trained']} "
                f"| {row.get('best_model', '-')} | {row.get('best_val_acc', '-')} | {row.get('test_acc', '-')} "
                f"| {row['searcher_calls']} / {row['searcher_seconds']} | {row.get('network_llm_calls', '?')} / "
                f"{row.get('network_llm_seconds', '?')} ({row['networks_written']}) "
                f"| {row['analyst_calls']} / {row['analyst_seconds']} | {actions_text} | {row['seconds']} |"
            )
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_experiment(
    settings: dict[str, Any], *, seeds: list[int], arms: tuple[str, ...] = ARMS, out: Path, **options: Any
) -> dict[int, dict[str, dict[str, Any]]]:
    """Run the arms of each seed one after another, in ``<out>/seed<N>/<arm>``.

    Each seed's rows go to ``<out>/seed<N>/arms.json``; a rerun skips the arms already there.
    """
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    for seed in seeds:
        seed_dir = out / f"seed{seed}"
        seed_dir.mkdir(parents=True, exist_ok=True)
        table = seed_dir / "arms.json"
        rows: dict[str, dict[str, Any]] = json.loads(table.read_text()) if table.exists() else {}
        for arm in arms:
            if arm not in ARMS:
                raise ValueError(f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")
            if arm in rows:
                logging.getLogger(__name__).info("seed %d, arm %s: already in %s, skipped", seed, arm, table)
                continue
            rows[arm] = run_arm(arm, settings, seed=seed, out=seed_dir, **options)
            table.write_text(json.dumps(rows, indent=1))
        runs[seed] = rows
    llms = {"backend": options["backend"], "analyst": options["analyst_backend"], "code": options["code_backend"]}
    write_report(out, runs, arms, settings, llms)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from benchmarks.execute import ensure_ray
    from benchmarks.results import git_sha
    from benchmarks.suites import parse_seeds

    git_sha()  # the commit the run starts at, cached for the report written at its end

    ensure_ray(os.cpu_count() or 2, args.address)
    settings = {**DEFAULTS, **(SMOKE if args.smoke else {})}
    for key in ("trials", "epochs", "max_train_batches", "concurrency"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    runs = run_experiment(
        settings,
        seeds=parse_seeds(args.seeds),
        arms=tuple(args.arms.split(",")),
        out=Path(args.out),
        dataset=args.dataset,
        backend=args.backend,
        analyst_backend=args.analyst_backend,
        code_backend=args.code_backend,
        form=args.form,
        device=args.device,
        gpus_per_trial=args.gpus_per_trial,
        data_dir=args.data_dir,
    )
    print((Path(args.out) / "report.md").read_text())
    return 0 if all("best_val_acc" in row for rows in runs.values() for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
