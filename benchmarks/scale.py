"""LLMSearcher at scale: 1000 instant trials, a scripted LLM with 2-10 s latency, 16-64 slots.

    python -m benchmarks.scale --trials 1000 --slots 16,64 --out results/scale
    python -m benchmarks.scale --trials 60 --slots 8 --out /tmp/scale    # a quick look

Per searcher (LLMSearcher with the scripted backend, and Tune's random search as the floor) and
slot count, at 100, 250, 500 and 1000 finished trials: the driver's CPU seconds per trial (this
process: Tune's loop, the searcher and its thread), its resident memory, prompt tokens per LLM call
(the scripted backend counts a token per 4 characters of the real prompt), and the share of slot
time left idle over the interval (``1 - trial lifetimes / (slots x wall seconds)``, a trial's
lifetime from Tune's start to its completion). Random search is Optuna's RandomSampler through
Tune's OptunaSearch (Tune's BasicVariantGenerator ignores ``max_concurrent_trials``).

Not yet what issue 18 asks for: with instant trials this idle share is dominated by Ray's per-trial
actor start-up (a 40-trial, 8-slot look on the loaded 2-core machine: 99.5% for random search), so
it cannot show the time slots wait for a proposal; that needs the driver's view (free slots while
``suggest()`` has nothing ready), still to be written. Targets (issue
18): idle share within 2 points of random search's; memory and per-trial driver time flat in the
number of trials. One JSON line per checkpoint goes to ``<out>/scale.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune import Callback

from benchmarks.searcher_overhead import _answer, tune_space

CHECKPOINTS = (100, 250, 500, 1000)


def _instant_trainable(config: dict) -> None:
    from ray import tune

    tune.report({"loss": float(config["lr"])})


def _slow_answer(messages, options) -> str:
    """The scripted LLM with a realistic latency: 2-10 s per call, uniform."""
    rng = np.random.default_rng(options.get("seed", 0))
    time.sleep(float(rng.uniform(2.0, 10.0)))
    return _answer(messages, options)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class CheckpointRecorder(Callback):
    """Records the figures each time the finished-trial count passes a checkpoint."""

    def __init__(self, slots: int, searcher: Any, checkpoints: tuple[int, ...]):
        self.slots, self.searcher, self.pending = slots, searcher, list(checkpoints)
        self.rows: list[dict[str, Any]] = []
        self.finished = 0
        self.busy_s = 0.0
        self.started: dict[str, float] = {}
        self.last = {"t": time.perf_counter(), "cpu": time.process_time(), "n": 0, "busy": 0.0}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.perf_counter()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        # A slot is busy from its trial's start to its end (Ray's start-up included): what is left idle
        # is time no proposal was ready, plus Tune's own gaps (random search's idle share is that floor).
        self.busy_s += time.perf_counter() - self.started.pop(trial.trial_id, time.perf_counter())
        if not self.pending or self.finished < self.pending[0]:
            return
        self.pending.pop(0)
        now, cpu = time.perf_counter(), time.process_time()
        n, wall = self.finished - self.last["n"], now - self.last["t"]
        row = {
            "finished": self.finished,
            "driver_cpu_ms_per_trial": round(1000 * (cpu - self.last["cpu"]) / n, 2),
            "rss_mb": round(_rss_mb(), 1),
            "idle_share": round(1 - (self.busy_s - self.last["busy"]) / (self.slots * wall), 4),
            "wall_s": round(wall, 1),
        }
        stats = getattr(self.searcher, "stats", None)
        if isinstance(stats, dict) and stats.get("llm_calls"):
            row["llm_calls"] = stats["llm_calls"]
            row["prompt_tokens_per_call"] = round(stats["prompt_tokens"] / stats["llm_calls"])
        self.rows.append(row)
        self.last = {"t": now, "cpu": cpu, "n": self.finished, "busy": self.busy_s}
        logging.info("%s", row)


def run_one(name: str, searcher: Any, trials: int, slots: int, out: Path) -> list[dict[str, Any]]:
    from ray import tune

    recorder = CheckpointRecorder(slots, searcher, tuple(c for c in CHECKPOINTS if c <= trials) or (trials,))
    tune.run(
        _instant_trainable,
        config={**tune_space()},
        search_alg=searcher,
        metric="loss",
        mode="min",
        num_samples=trials,
        max_concurrent_trials=slots,
        resources_per_trial={"cpu": 2 / slots},
        callbacks=[recorder],
        verbose=0,
        storage_path=str(out / "tune"),
        name=f"{name}-{slots}",
    )
    rows = [{"searcher": name, "slots": slots, "trials": trials, **row} for row in recorder.rows]
    with open(out / "scale.jsonl", "a", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row) + "\n")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--slots", default="16,64", help="comma-separated concurrent trial counts")
    parser.add_argument("--out", default="results/scale")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import optuna
    import ray
    from ray.tune.search.optuna import OptunaSearch

    from llm_search import LLMSearcher
    from llm_search.backends import ScriptedBackend

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    header = f"{'searcher':22} {'slots':>5} {'finished':>8} {'cpu ms/trial':>12} {'RSS MB':>7} {'idle':>6}"
    print(header + f" {'tokens/call':>11}")
    for slots in (int(s) for s in args.slots.split(",")):
        llm = LLMSearcher(backend=ScriptedBackend(default=_slow_answer), seed=0)
        floor = OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=0))
        for name, searcher in (("random (Optuna)", floor), ("LLMSearcher", llm)):
            for row in run_one(name.split()[0].lower(), searcher, args.trials, slots, out):
                print(
                    f"{name:22} {slots:5d} {row['finished']:8d} {row['driver_cpu_ms_per_trial']:12.1f} "
                    f"{row['rss_mb']:7.0f} {row['idle_share']:6.1%} {row.get('prompt_tokens_per_call', '-'):>11}"
                )
    ray.shutdown()


if __name__ == "__main__":
    main()
