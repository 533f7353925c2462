"""LLMSearcher at scale: 1000 instant trials, a scripted LLM with 2-10 s latency, 16-64 slots.

    python -m benchmarks.scale --trials 1000 --slots 16,64 --out results/scale
    python -m benchmarks.scale --trials 60 --slots 8 --out /tmp/scale    # a quick look
    python -m benchmarks.scale --table --out results/scale                # the stored rows as markdown
    python -m benchmarks.scale --searchers llm --slots 16 --tune-checkpoint-s 3600 --out /tmp/scale  # Tune's
        # experiment checkpoints (every 10 s or more, each writing every trial) left out of the figures

Per searcher and slot count, at 100, 250, 500 and 1000 finished trials (each figure over the
interval since the previous checkpoint): the driver's CPU milliseconds per trial (this process:
Tune's loop, the searcher and its thread), the searcher's own share of it (its methods on Tune's
thread plus its proposal rounds; Tune's loop costs per second, so a searcher that runs fewer
trials per second pays more of Tune per trial), the searcher-state saves Tune made (at most every
10 s, or 19x the last save's time), its resident memory, prompt tokens per LLM call (the
scripted backend counts a token per 4 characters of the real prompt), and the idle share: slot
time without a trial because no proposal was ready, ``free slot seconds / (slots x wall
seconds)``. A slot is free from a trial's completion until the searcher hands Tune the next
config (`SlotProbe` wraps the searcher and sees both), so Ray's actor start-up is not counted, and
Tune's own loop latency is: random search's idle share is that floor.

Searchers: Optuna's RandomSampler through Tune's OptunaSearch (the floor; Tune's
BasicVariantGenerator ignores ``max_concurrent_trials``), ``LLMSearcher`` as configured by default
(every trial waits for an LLM proposal), and ``LLMSearcher(fill_free_slots=True)`` (a free slot gets
a random draw while the LLM answers). Targets (issue 18): idle share within 2 points of random
search's; memory and per-trial driver time flat in the number of trials. One JSON line per
checkpoint goes to ``<out>/scale.jsonl``.
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
from ray.tune.search import Searcher

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


class SlotProbe(Searcher):
    """Wraps a searcher and integrates its free slots over time: ``slots`` minus the trials it has
    handed out and not yet seen complete (what Tune's concurrency limit lets it fill)."""

    def __init__(self, inner: Searcher, slots: int):
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner, self.slots = inner, slots
        self.live = 0
        self.free_slot_s = 0.0
        self.call_cpu_s = 0.0  # driver-thread CPU inside the searcher's methods
        self.saves = 0
        self._since: float | None = None  # the clock starts at the first request

    def _advance(self) -> None:
        now = time.perf_counter()
        if self._since is not None:
            self.free_slot_s += max(0, self.slots - self.live) * (now - self._since)
        self._since = now

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.inner.set_max_concurrency(max_concurrent)

    def searcher_cpu_s(self) -> float:
        """CPU spent by the searcher: its methods on the driver thread, plus its proposal rounds' thread."""
        stats = getattr(self.inner, "stats", None)
        rounds = stats.get("round_cpu_s", 0.0) if isinstance(stats, dict) else 0.0
        return self.call_cpu_s + rounds

    def suggest(self, trial_id: str) -> dict | None:
        self._advance()
        start = time.thread_time()
        config = self.inner.suggest(trial_id)
        self.call_cpu_s += time.thread_time() - start
        if isinstance(config, dict):
            self.live += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        start = time.thread_time()
        self.inner.on_trial_result(trial_id, result)
        self.call_cpu_s += time.thread_time() - start

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._advance()
        self.live -= 1
        start = time.thread_time()
        self.inner.on_trial_complete(trial_id, result=result, error=error)
        self.call_cpu_s += time.thread_time() - start

    def save(self, checkpoint_path: str) -> None:
        start = time.thread_time()
        self.inner.save(checkpoint_path)
        self.call_cpu_s += time.thread_time() - start
        self.saves += 1

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)


class CheckpointRecorder(Callback):
    """Records the figures each time the finished-trial count passes a checkpoint."""

    def __init__(self, probe: SlotProbe, checkpoints: tuple[int, ...]):
        self.probe, self.pending = probe, list(checkpoints)
        self.rows: list[dict[str, Any]] = []
        self.finished = 0
        self.last = {"t": time.perf_counter(), "cpu": time.process_time(), "n": 0, "free": 0.0, "ours": 0.0, "saves": 0}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        if not self.pending or self.finished < self.pending[0]:
            return
        self.pending.pop(0)
        self.probe._advance()
        now, cpu, free = time.perf_counter(), time.process_time(), self.probe.free_slot_s
        ours, saves = self.probe.searcher_cpu_s(), self.probe.saves
        n, wall = self.finished - self.last["n"], now - self.last["t"]
        row = {
            "finished": self.finished,
            "driver_cpu_ms_per_trial": round(1000 * (cpu - self.last["cpu"]) / n, 2),
            "searcher_cpu_ms_per_trial": round(1000 * (ours - self.last["ours"]) / n, 2),
            "state_saves": saves - self.last["saves"],
            "rss_mb": round(_rss_mb(), 1),
            "idle_share": round((free - self.last["free"]) / (self.probe.slots * wall), 4),
            "trials_per_s": round(n / wall, 2),
            "wall_s": round(wall, 1),
        }
        stats = getattr(self.probe.inner, "stats", None)
        if isinstance(stats, dict) and stats.get("llm_calls"):
            row["llm_calls"] = stats["llm_calls"]
            row["prompt_tokens_per_call"] = round(stats["prompt_tokens"] / stats["llm_calls"])
            row["filled"] = stats.get("filled", 0)
        self.rows.append(row)
        self.last = {"t": now, "cpu": cpu, "n": self.finished, "free": free, "ours": ours, "saves": saves}
        logging.info("%s", row)


def run_one(name: str, searcher: Any, trials: int, slots: int, out: Path) -> list[dict[str, Any]]:
    from ray import tune

    probe = SlotProbe(searcher, slots)
    recorder = CheckpointRecorder(probe, tuple(c for c in CHECKPOINTS if c <= trials) or (trials,))
    tune.run(
        _instant_trainable,
        config={**tune_space()},
        search_alg=probe,
        metric="loss",
        mode="min",
        num_samples=trials,
        max_concurrent_trials=slots,
        resources_per_trial={"cpu": 2 / slots},
        callbacks=[recorder],
        reuse_actors=True,  # what a user at this scale sets: one actor start per slot, not per trial
        verbose=0,
        storage_path=str(out / "tune"),
        name=f"{name}-{slots}",
    )
    period = os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "auto")
    rows = [
        {"searcher": name, "slots": slots, "trials": trials, "tune_checkpoint_s": period, **row}
        for row in recorder.rows
    ]
    with open(out / "scale.jsonl", "a", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row) + "\n")
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows of ``scale.jsonl`` as one markdown table (searcher, slots, then each checkpoint)."""
    lines = [
        "| searcher | slots | finished | driver CPU ms / trial | searcher CPU ms / trial | state saves | RSS MB "
        "| idle share | trials / s | prompt tokens / call | filled |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ours = row.get("searcher_cpu_ms_per_trial")  # rows of runs before 2026-12-02 lack these two
        lines.append(
            f"| {row['searcher']} | {row['slots']} | {row['finished']} | {row['driver_cpu_ms_per_trial']:.1f} "
            f"| {'-' if ours is None else f'{ours:.1f}'} | {row.get('state_saves', '-')} "
            f"| {row['rss_mb']:.0f} | {row['idle_share']:.1%} | {row['trials_per_s']:.2f} "
            f"| {row.get('prompt_tokens_per_call', '-')} | {row.get('filled', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--slots", default="16,64", help="comma-separated concurrent trial counts")
    parser.add_argument("--searchers", default="random,llm-fill,llm", help="of random, llm, llm-fill")
    parser.add_argument("--out", default="results/scale")
    parser.add_argument(
        "--tune-checkpoint-s",
        help="seconds between Tune's experiment checkpoints (TUNE_GLOBAL_CHECKPOINT_S; default: Tune's 'auto')",
    )
    parser.add_argument("--table", action="store_true", help="print <out>/scale.jsonl as a markdown table, run nothing")
    args = parser.parse_args(argv)
    if args.table:
        with open(Path(args.out) / "scale.jsonl", encoding="utf-8") as stream:
            print(markdown_table([json.loads(line) for line in stream if line.strip()]))
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.tune_checkpoint_s:
        os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = args.tune_checkpoint_s
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
    header = f"{'searcher':16} {'slots':>5} {'finished':>8} {'cpu ms/trial':>12} {'ours ms/trial':>13} {'RSS MB':>7}"
    print(header + f" {'idle':>6} {'trials/s':>8} {'tokens/call':>11} {'filled':>6}")
    for slots in (int(s) for s in args.slots.split(",")):
        searchers = {
            "random": OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=0)),
            "llm": LLMSearcher(backend=ScriptedBackend(default=_slow_answer), strategy="llm", seed=0),
            "llm-fill": LLMSearcher(
                backend=ScriptedBackend(default=_slow_answer), strategy="llm", seed=0, fill_free_slots=True
            ),
        }
        for name in args.searchers.split(","):
            for row in run_one(name, searchers[name], args.trials, slots, out):
                print(
                    f"{name:16} {slots:5d} {row['finished']:8d} {row['driver_cpu_ms_per_trial']:12.1f} "
                    f"{row['searcher_cpu_ms_per_trial']:13.1f} {row['rss_mb']:7.0f} {row['idle_share']:6.1%} "
                    f"{row['trials_per_s']:8.2f} "
                    f"{row.get('prompt_tokens_per_call', '-'):>11} {row.get('filled', '-'):>6}"
                )
    ray.shutdown()


if __name__ == "__main__":
    main()
