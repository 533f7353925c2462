"""Hand-made results tables with known statistics (no Ray, no searchers)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from benchmarks.results import COLUMNS, LLM_STAT_KEYS, best_so_far


def run_rows(
    method: str,
    problem: str,
    seed: int,
    values: Sequence[float],
    *,
    mode: str = "min",
    optimum: float = math.nan,
    perfect: float = 0.0,
    same_start: bool = False,
    run_time_s: float = 1.0,
    proposed_by: str | Sequence[str] = "",
    **stats: float,
) -> pd.DataFrame:
    """One run's rows in the tidy layout, with ``best_so_far`` computed as the runner does."""
    values = [float(v) for v in values]
    frame = pd.DataFrame(
        {
            "method": method,
            "problem": problem,
            "seed": seed,
            "trial": range(len(values)),
            "config": [f'{{"x": {i}}}' for i in range(len(values))],
            "value": values,
            "status": ["ok" if math.isfinite(v) else "error" for v in values],
            "proposed_by": [proposed_by] * len(values) if isinstance(proposed_by, str) else list(proposed_by),
            "trial_time_s": 0.01,
            "elapsed_s": [0.1 * (i + 1) for i in range(len(values))],
            "metric": "loss" if mode == "min" else "acc",
            "mode": mode,
            "optimum": optimum,
            "perfect": perfect,
            "budget": len(values),
            "concurrency": 1,
            "same_start": same_start,
            "backend": "local" if method.startswith("llm") else "",
            "git_sha": "abc123",
            "run_time_s": run_time_s,
        }
    )
    frame["best_so_far"] = best_so_far(frame["value"], mode)
    for key in LLM_STAT_KEYS:
        frame[key] = float(stats.get(key, 0.0))
    return frame[list(COLUMNS)]


def table(*runs: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(runs, ignore_index=True)
