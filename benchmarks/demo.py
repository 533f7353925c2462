"""The main job: a real Ray Tune search with the embedded LLM (pure and hybrid), beside Optuna TPE and random search.

    llm-search demo                       # about 4 minutes on 2 CPU cores (255 s measured, default model)
    llm-search demo --trials 20 --concurrency 2 --backend local

A small CNN trains on scikit-learn's digits (real 8x8 images; validation split carved from the
training set) and reports validation loss/accuracy and per-layer gradient norms every epoch. The
same search space, budget, concurrency and seed go to every searcher; a table compares them.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TASK = (
    "A small CNN (two conv blocks, 8x8 grayscale digits, 10 classes, 1.4k training images) trained for "
    "3 epochs with a cosine schedule; minimize validation cross-entropy."
)


def search_space() -> dict[str, Any]:
    from ray import tune

    return {
        "optimizer": tune.choice(["sgd", "sgd_momentum", "adam", "adamw"]),
        "learning_rate": tune.loguniform(1e-4, 3e-1),
        "batch_size": tune.choice([32, 64, 128]),
        "weight_decay": tune.loguniform(1e-6, 1e-2),
        "label_smoothing": tune.uniform(0.0, 0.2),
        # constants: the task itself
        "dataset": "digits",
        "model": "spec_cnn",
        "epochs": 3,
        "device": "cpu",
    }


@dataclass
class MethodResult:
    name: str
    best_val_loss: float = float("nan")
    best_val_acc: float = float("nan")
    trials: int = 0
    errored: int = 0
    wall_s: float = 0.0
    llm: dict[str, Any] = field(default_factory=dict)


def _searchers(seed: int, backend: str, concurrency: int) -> dict[str, Any]:
    import optuna
    from ray.tune.search import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch

    from llm_search import LLMSearcher

    return {
        "llm": LLMSearcher(backend=backend, task=TASK, seed=seed, strategy="llm"),
        "hybrid": LLMSearcher(backend=backend, task=TASK, seed=seed),  # the default strategy
        "optuna TPE": OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed)),
        # Tune's random search takes its concurrency limit itself (max_concurrent_trials is for Searchers).
        "random": BasicVariantGenerator(random_state=seed, max_concurrent=concurrency),
    }


def _progress_callback(name: str, total: int):
    from ray.tune import Callback

    class Progress(Callback):
        """One line per finished trial, so a person sees the search move."""

        def __init__(self) -> None:
            self.done = 0
            self.best = float("inf")

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.done += 1
            loss = trial.last_result.get("val_loss", float("nan"))
            self.best = min(self.best, loss) if math.isfinite(loss) else self.best
            print(
                f"  [{name:12}] trial {self.done:2d}/{total}  val_loss={loss:.4f}  "
                f"val_acc={trial.last_result.get('val_acc', float('nan')):.3f}  best={self.best:.4f}",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            self.done += 1
            print(f"  [{name:12}] trial {self.done:2d}/{total}  FAILED ({trial.error_file})", flush=True)

    return Progress()


def run_demo(
    trials: int = 12,
    concurrency: int = 2,
    seed: int = 0,
    backend: str = "local",
    storage: str | None = None,
    address: str | None = None,
) -> list[MethodResult]:
    import ray
    from ray import tune

    from benchmarks.execute import ensure_ray
    from trainables import train_image_classifier

    storage = os.path.abspath(storage or os.path.join("runs", "demo"))
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started_ray = not ray.is_initialized()
    if started_ray:
        ensure_ray(concurrency, address)
    results = []
    for name, search_alg in _searchers(seed, backend, concurrency).items():
        uses_llm = f" (LLM backend: {backend})" if hasattr(search_alg, "stats") else ""
        print(f"\n== {name}: {trials} trials, {concurrency} at a time{uses_llm}", flush=True)
        start = time.perf_counter()
        experiment = name.split()[0].lower() + f"_seed{seed}"
        limit = {} if name == "random" else {"max_concurrent_trials": concurrency}
        analysis = tune.run(
            train_image_classifier,
            config=search_space(),
            search_alg=search_alg,
            metric="val_loss",
            mode="min",
            num_samples=trials,
            resources_per_trial={"cpu": 1},
            storage_path=storage,
            name=experiment,
            verbose=0,
            raise_on_failed_trial=False,
            callbacks=[_progress_callback(name, trials)],
            **limit,
        )
        result = MethodResult(name, wall_s=time.perf_counter() - start, trials=len(analysis.trials))
        finished = [t.last_result for t in analysis.trials if t.last_result.get("val_loss") is not None]
        result.errored = sum(t.status == "ERROR" for t in analysis.trials)
        if finished:
            best = min(finished, key=lambda r: r["val_loss"] if math.isfinite(r["val_loss"]) else float("inf"))
            result.best_val_loss, result.best_val_acc = best["val_loss"], best["val_acc"]
        if hasattr(search_alg, "stats"):
            result.llm = dict(search_alg.stats, log=os.path.join(storage, experiment, "llm_exchanges.jsonl"))
        results.append(result)
    if started_ray:
        ray.shutdown()
    return results


def format_table(results: list[MethodResult]) -> str:
    header = (
        f"{'searcher':14} {'best val_loss':>13} {'val_acc':>8} {'trials':>6} {'failed':>6} {'wall s':>7} "
        f"{'LLM calls':>9} {'tokens in/out':>14} {'cost $':>7} {'fallbacks':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        calls = str(r.llm.get("llm_calls", "-"))
        tokens = f"{r.llm['prompt_tokens']}/{r.llm['completion_tokens']}" if r.llm else "-"
        fallbacks = str(r.llm.get("fallbacks", "-"))
        cost = f"{r.llm['cost_usd']:.4f}" if r.llm else "-"
        lines.append(
            f"{r.name:14} {r.best_val_loss:13.4f} {r.best_val_acc:8.3f} {r.trials:6d} {r.errored:6d} "
            f"{r.wall_s:7.1f} {calls:>9} {tokens:>14} {cost:>7} {fallbacks:>9}"
        )
    return "\n".join(lines)


def main(args) -> int:
    results = run_demo(
        trials=args.trials,
        concurrency=args.concurrency,
        seed=args.seed,
        backend=args.backend,
        storage=args.storage,
        address=args.address,
    )
    print("\n" + format_table(results))
    for r in results:
        if r.llm:
            print(
                f"\n{r.name}: {r.llm['proposed_by_llm']} configs from the LLM, {r.llm['fallbacks']} random fallbacks "
                f"({r.llm['duplicates']} duplicates, {r.llm['rejected']} rejected, {r.llm['reasks']} re-asks); "
                f"LLM time {r.llm['llm_seconds']:.1f} s. Exchange log: {r.llm['log']}"
            )
    return 0
