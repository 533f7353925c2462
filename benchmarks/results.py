"""The tidy results table: one row per trial, one file per (method, problem, seed) run.

Files live at ``<out>/runs/<method>/<problem with '/' as '__'>/seed<k>.<parquet|csv>`` (Parquet when
``pyarrow`` is installed, else CSV). A run's file is written once, atomically, when the run is done:
its existence is what makes the runner skip the run on a rerun (resume).

Columns (:data:`COLUMNS`):

- ``method``, ``problem``, ``seed``: the run.
- ``trial``: 0-based index in suggestion order (Tune's creation counter).
- ``config``: the trial's resolved config as JSON (searched values plus the problem's constants).
- ``value``: the metric's last reported value (NaN if the trial failed or reported NaN/inf).
- ``status``: ``"ok"``, ``"error"`` (the trial raised) or ``"nonfinite"``.
- ``proposed_by``: for LLMSearcher methods, who proposed the trial: ``"llm"``, ``"optimizer"``
  (hybrid), ``"random"`` (fallback when the LLM gave nothing usable) or ``"points"`` (given start
  points); ``""`` for other methods. For runs stored before the column existed, ``load_results``
  recovers it from the run's exchange log (:func:`proposers_from_logs`).
- ``best_so_far``: best finite ``value`` among trials ``0..trial`` (NaN before the first one).
- ``trial_time_s``: the trial's own running time (Tune's ``time_total_s``).
- ``elapsed_s``: seconds from the run's start to the trial's end (driver clock, includes Ray
  and searcher overhead).
- ``metric``, ``mode``: the problem's objective; ``optimum`` (NaN if unknown) and ``perfect`` (the
  zero-error value): see ``benchmarks.problems.Problem``; they make the table self-contained.
- ``budget``, ``concurrency``, ``same_start``: the run's settings.
- ``backend``: the LLM backend spec ("" for methods without an LLM).
- ``git_sha``: commit of the code that ran (``+dirty`` when the work tree had changes).
- ``llm_calls``, ``prompt_tokens``, ``completion_tokens``, ``llm_seconds``, ``proposed_by_llm``,
  ``proposed_by_optimizer`` (hybrid), ``fallbacks``, ``rejected``: ``LLMSearcher.stats`` at the end
  of the run (0 for other methods).
- ``run_time_s``: wall time of the whole run.

Example:
    >>> run_path("results/x", "optuna-tpe", "hpobench/car", 3).as_posix()
    'results/x/runs/optuna-tpe/hpobench__car/seed3.parquet'
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from llm_search.atomic_file import write_atomically

logger = logging.getLogger(__name__)

LLM_STAT_KEYS = (
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "llm_seconds",
    "proposed_by_llm",
    "proposed_by_optimizer",
    "fallbacks",
    "rejected",
)
COLUMNS = (
    "method",
    "problem",
    "seed",
    "trial",
    "config",
    "value",
    "status",
    "proposed_by",
    "best_so_far",
    "trial_time_s",
    "elapsed_s",
    "metric",
    "mode",
    "optimum",
    "perfect",
    "budget",
    "concurrency",
    "same_start",
    "backend",
    "git_sha",
    *LLM_STAT_KEYS,
    "run_time_s",
)


@functools.cache
def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def run_path(out: str | os.PathLike[str], method: str, problem: str, seed: int) -> Path:
    """Where the table of one run is stored (Parquet if ``pyarrow`` is installed, else CSV)."""
    suffix = "parquet" if _has_pyarrow() else "csv"
    return _run_file(out, "runs", method, problem, f"seed{seed}.{suffix}")


def log_path(out: str | os.PathLike[str], method: str, problem: str, seed: int) -> Path:
    """Where the LLM exchange log of one run of an LLM method is written."""
    return _run_file(out, "llm_logs", method, problem, f"seed{seed}.jsonl")


def _run_file(out: str | os.PathLike[str], kind: str, method: str, problem: str, name: str) -> Path:
    return Path(out) / kind / method / problem.replace("/", "__") / name


def run_exists(out: str | os.PathLike[str], method: str, problem: str, seed: int) -> bool:
    """Whether the run's table exists in either format (a finished run)."""
    path = run_path(out, method, problem, seed)
    return path.with_suffix(".parquet").exists() or path.with_suffix(".csv").exists()


def write_run(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write one run's table atomically (a half-written file never looks like a finished run)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        write_atomically(str(path), lambda f: table.to_parquet(f, index=False))
    else:
        write_atomically(str(path), lambda f: f.write(table.to_csv(index=False).encode("utf-8")))


def load_results(out: str | os.PathLike[str]) -> pd.DataFrame:
    """All runs under ``out`` as one table (columns :data:`COLUMNS`), sorted by run and trial.

    Raises:
        FileNotFoundError: If ``out`` holds no run.

    Example:
        >>> load_results("results/does-not-exist")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no benchmark runs under results/does-not-exist/runs
    """
    root = Path(out) / "runs"
    files = sorted([*root.glob("*/*/seed*.parquet"), *root.glob("*/*/seed*.csv")])
    if not files:
        raise FileNotFoundError(f"no benchmark runs under {root}")
    text_columns = {"config": str, "backend": str, "git_sha": str, "proposed_by": str}
    tables = [pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, dtype=text_columns) for f in files]
    table = pd.concat(tables, ignore_index=True).reindex(columns=list(COLUMNS))  # older runs lack proposed_by
    for column in ("backend", "proposed_by"):
        table[column] = table[column].astype(object).fillna("").astype(str)
    table = table.sort_values(["method", "problem", "seed", "trial"], ignore_index=True)
    return proposers_from_logs(table, out)


def proposers_from_logs(table: pd.DataFrame, out: str | os.PathLike[str]) -> pd.DataFrame:
    """Fill ``proposed_by`` of LLM runs stored before the column existed, from their exchange logs.

    A trial whose searched values equal a config that the LLM's answers had accepted (each accepted
    config matched once) was the LLM's; the run's other trials were the optimizer's (hybrid runs:
    ``proposed_by_optimizer > 0``) or random fallbacks. Runs without a log are left as they are.
    """
    table = table.copy()
    for (method, problem, seed), run in table.groupby(["method", "problem", "seed"]):
        if run["llm_calls"].iloc[0] == 0 or (run["proposed_by"] != "").any():
            continue
        path = log_path(out, method, problem, seed)
        if not path.exists():
            continue
        accepted = [
            json.loads(config)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
            for config in json.loads(line).get("accepted", [])
        ]
        other = "optimizer" if run["proposed_by_optimizer"].iloc[0] > 0 else "random"
        run = run.sort_values("trial")
        sources = []
        for text in run["config"]:
            config = json.loads(text)
            match = next((i for i, a in enumerate(accepted) if all(config.get(k) == v for k, v in a.items())), None)
            sources.append(other if match is None else "llm")
            if match is not None:
                accepted.pop(match)
        table.loc[run.index, "proposed_by"] = sources
    return table


def best_so_far(values: pd.Series, mode: str) -> pd.Series:
    """Running best of the finite values (NaN until the first one).

    Example:
        >>> best_so_far(pd.Series([float("nan"), 3.0, 1.0, float("nan"), 2.0]), "min").tolist()
        [nan, 3.0, 1.0, 1.0, 1.0]
    """
    running = values.cummin() if mode == "min" else values.cummax()
    return running.ffill()


def config_json(config: Mapping[str, Any]) -> str:
    """A config as JSON (numpy scalars as plain numbers, keys sorted).

    Example:
        >>> import numpy as np
        >>> config_json({"lr": np.float64(0.1), "opt": "adam"})
        '{"lr": 0.1, "opt": "adam"}'
    """
    return json.dumps(config, sort_keys=True, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def finite_or_nan(value: Any) -> float:
    """``value`` as a float, or NaN if it is missing, not a number, NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


@functools.cache
def git_sha(repo: str | None = None) -> str:
    """The commit checked out in ``repo`` (default: this package's repository), ``+dirty`` if changed.

    Returns ``"unknown"`` outside a git checkout.
    """
    cwd = repo or str(Path(__file__).resolve().parent.parent)
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha
