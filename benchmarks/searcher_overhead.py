"""What LLMSearcher costs the Tune driver: suggest() latency, idle trial slots, prompt size.

    python -m benchmarks.searcher_overhead            # all three parts (~3 minutes on 2 cores)
    python -m benchmarks.searcher_overhead --part tokens

1. ``suggest()`` latency percentiles in the driver (a real Tune run, every call timed).
2. The share of trial-slot time spent waiting for proposals, with a slow backend (a scripted
   backend that takes ``--delay`` seconds per call, default 3) and 4 concurrent trials, for
   several ``prefetch`` settings, next to Tune's own random search on the same run as the floor.
3. Prompt tokens versus history size (20, 50, 200, 1000 trials), counted by the embedded model's
   tokenizer (a 1-token completion per prompt), and how many of them llama.cpp served from its
   prefix cache when the previous prompt was the same history less its last trial (the common
   case: one trial finished since the last call).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SPACE_SPEC = {
    "lr": ("loguniform", 1e-5, 1e-1),
    "optimizer": ("choice", ["sgd", "adam", "adamw"]),
    "weight_decay": ("uniform", 0.0, 0.1),
    "batch_size": ("qrandint", 32, 512, 32),
    "depth": ("randint", 1, 8),
}


def tune_space() -> dict[str, Any]:
    from ray import tune

    return {name: getattr(tune, kind)(*args) for name, (kind, *args) in SPACE_SPEC.items()}


def _answer(messages, options) -> str:
    """A scripted LLM that returns as many distinct valid configs as asked for."""
    content = messages[-1]["content"]
    n = int(content.split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options.get("seed", 0))
    configs = [
        {
            "lr": float(f"{10 ** rng.uniform(-5, -1):.2g}"),
            "optimizer": "adam",
            "weight_decay": 0.01,
            "batch_size": 32 * int(rng.integers(1, 17)),
            "depth": int(rng.integers(1, 8)),
        }
        for _ in range(n)
    ]
    return json.dumps({"configs": configs})


def _sleep_trainable(config: dict) -> None:
    from ray import tune

    time.sleep(config["duration_s"])
    tune.report({"loss": float(config["lr"])})


class _TimedSuggest:
    """Wraps a searcher's suggest() to time every call the Tune driver makes."""

    def __init__(self, searcher):
        self.inner = searcher.suggest
        self.times: list[float] = []
        searcher.suggest = self

    def __call__(self, trial_id):
        start = time.perf_counter()
        try:
            return self.inner(trial_id)
        finally:
            self.times.append(time.perf_counter() - start)


def run_slot_experiment(searcher, n_trials: int, concurrency: int, duration_s: float) -> dict[str, float]:
    from ray import tune

    timer = _TimedSuggest(searcher) if hasattr(searcher, "history") else None
    start = time.perf_counter()
    analysis = tune.run(
        _sleep_trainable,
        config={**tune_space(), "duration_s": duration_s},
        search_alg=searcher,
        metric="loss",
        mode="min",
        num_samples=n_trials,
        max_concurrent_trials=concurrency,
        resources_per_trial={"cpu": 2 / concurrency},
        verbose=0,
        storage_path="/tmp/llm_search_bench",
    )
    wall = time.perf_counter() - start
    busy = sum(t.last_result.get("time_total_s", duration_s) for t in analysis.trials)
    figures = {"wall_s": wall, "idle_share": 1 - busy / (concurrency * wall)}
    if timer:
        figures.update({f"suggest_p{p}_ms": float(np.percentile(timer.times, p)) * 1000 for p in (50, 95, 99)})
        figures["suggest_max_ms"] = max(timer.times) * 1000
        figures["suggest_calls"] = len(timer.times)
    return figures


def part_slots(delay: float, n_trials: int, duration_s: float) -> None:
    import ray
    from ray.tune.search import BasicVariantGenerator

    from llm_search import LLMSearcher
    from llm_search.backends import ScriptedBackend

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = [
        ("random search (Tune)", run_slot_experiment(BasicVariantGenerator(random_state=0), n_trials, 4, duration_s))
    ]
    for prefetch in (0, 1, 4):
        backend = ScriptedBackend(default=_answer, delay_s=delay)
        searcher = LLMSearcher(backend=backend, strategy="llm", seed=0, prefetch=prefetch)
        rows.append(
            (
                f"LLMSearcher, {delay:g} s backend, prefetch={prefetch}",
                run_slot_experiment(searcher, n_trials, 4, duration_s),
            )
        )
    ray.shutdown()
    print(f"\n{n_trials} trials of {duration_s:g} s, 4 concurrent; slot idle share = 1 - trial time / (4 x wall)")
    print(f"{'searcher':42} {'wall s':>7} {'idle':>6} {'suggest p50/p95/p99/max ms':>28} {'calls':>6}")
    for name, f in rows:
        lat = (
            f"{f['suggest_p50_ms']:.2f}/{f['suggest_p95_ms']:.2f}/{f['suggest_p99_ms']:.2f}/{f['suggest_max_ms']:.1f}"
            if "suggest_p50_ms" in f
            else "-"
        )
        print(f"{name:42} {f['wall_s']:7.1f} {f['idle_share']:6.1%} {lat:>28} {f.get('suggest_calls', '-'):>6}")


def _history(space: Any, n: int) -> Any:
    from llm_search.history import History

    rng = np.random.default_rng(0)  # the same trials for every n: history(n - 1) is history(n) less its last
    history = History("val_loss", "min")
    for i in range(n):
        history.start(f"t{i}", space.sample(rng), "llm")
        history.add_result(
            f"t{i}",
            {
                "val_loss": float(rng.random()),
                "val_acc": float(rng.random()),
                "grad_norm/total": 1.0,
                "grad_norm/conv1": 1e-6,
            },
        )
        history.complete(f"t{i}", None, error="RuntimeError: CUDA out of memory" if i % 10 == 3 else None)
    return history


def part_tokens() -> None:
    from llm_search.backends import get_backend
    from llm_search.prompts import build_messages
    from llm_search.space import SearchSpace

    space = SearchSpace.from_tune(tune_space())
    backend = get_backend("local")
    print("\nprompt tokens vs history size (SmolLM2 tokenizer, 4 configs asked, default ContextLimits);")
    print("reused = served from llama.cpp's prefix cache after the prompt of the same history less one trial")
    print(f"{'trials':>7} {'prompt tokens':>14} {'reused':>7} {'processed':>10} {'chars':>7}")
    for n in (0, 20, 50, 200, 1000):
        messages = build_messages(space=space, history=_history(space, n), n_configs=4)
        if n:
            backend.complete(build_messages(space=space, history=_history(space, n - 1), n_configs=4), max_tokens=1)
        completion = backend.complete(messages, max_tokens=1)
        reused = completion.cached_prompt_tokens if n else 0
        print(
            f"{n:7d} {completion.prompt_tokens:14d} {reused:7d} {completion.prompt_tokens - reused:10d} "
            f"{sum(len(m['content']) for m in messages):7d}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "slots", "tokens"], default="all")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds per call of the slow backend")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per trial")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    logging.basicConfig(level=logging.WARNING)
    if args.part in ("all", "tokens"):
        part_tokens()
    if args.part in ("all", "slots"):
        part_slots(args.delay, args.trials, args.duration)


if __name__ == "__main__":
    main()
