"""Read a Tune experiment directory: each trial's reports and config, and the LLM exchange log.

Only files are read (``<trial dir>/result.json``, ``params.json``, ``error.txt`` and the
experiment's ``llm_exchanges.jsonl``), so a report needs neither Ray nor the trainable, and works
on a copy of an experiment from another machine.

Example:
    >>> guess_objective([{"loss": 1.0, "val_acc": 0.5}])
    ('val_acc', 'max')
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_search.exchange_log import read_exchanges

# Tried in order when the metric is not given: accuracies are maximized, losses minimized.
OBJECTIVE_GUESSES = (("val_acc", "max"), ("accuracy", "max"), ("val_loss", "min"), ("loss", "min"))


@dataclass
class TrialData:
    """One trial: its directory name, final config, every report (oldest first) and its error."""

    trial_id: str
    name: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    error: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the supervisor's, oldest first

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(iterations, values) of a reported metric, finite values only."""
        xs, ys = [], []
        for index, result in enumerate(self.results, 1):
            value = result.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                xs.append(float(result.get("training_iteration", index)))
                ys.append(float(value))
        return xs, ys

    def best(self, metric: str, mode: str) -> float | None:
        values = self.series(metric)[1]
        if not values:
            return None
        return max(values) if mode == "max" else min(values)


@dataclass
class ExperimentData:
    """An experiment's trials (in start order) and its LLM exchanges."""

    path: Path
    metric: str
    mode: str
    trials: list[TrialData]
    exchanges: list[dict[str, Any]]

    def ranked(self) -> list[TrialData]:
        """Trials best first (trials without the metric last)."""
        sign = -1.0 if self.mode == "max" else 1.0
        return sorted(
            self.trials,
            key=lambda t: (t.best(self.metric, self.mode) is None, sign * (t.best(self.metric, self.mode) or 0.0)),
        )


def guess_objective(results: Sequence[dict[str, Any]]) -> tuple[str, str]:
    keys = {k for r in results for k in r}
    for metric, mode in OBJECTIVE_GUESSES:
        if metric in keys:
            return metric, mode
    raise ValueError(
        f"cannot tell the objective of this experiment: pass --metric and --mode (reported: {sorted(keys)[:12]})"
    )


def _read_results(path: Path) -> list[dict[str, Any]]:
    results = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            continue  # a torn last line of a killed run
    return results


def load_experiment(path: str | Path, metric: str | None = None, mode: str | None = None) -> ExperimentData:
    """The experiment in ``path`` (a Tune experiment directory)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory: give a Tune experiment directory (storage_path/name)")
    trials = []
    for result_file in sorted(root.glob("*/result.json")):
        directory = result_file.parent
        results = _read_results(result_file)
        params = directory / "params.json"
        config = (
            json.loads(params.read_text()) if params.is_file() else (results[-1].get("config", {}) if results else {})
        )
        if results and isinstance(results[-1].get("config"), dict):
            config = results[-1]["config"]  # the latest: a supervisor's adjust changes it mid-run
        error_file = directory / "error.txt"
        trial_id = str(results[0].get("trial_id")) if results else directory.name
        error = error_file.read_text(errors="replace")[-2000:] if error_file.is_file() else None
        trials.append(TrialData(trial_id, directory.name, config, results, error))
    if not trials:
        raise FileNotFoundError(f"no trial results (*/result.json) under {root}: is it a Tune experiment directory?")
    trials.sort(key=lambda t: t.results[0].get("timestamp", 0) if t.results else 0)
    log = root / "llm_exchanges.jsonl"
    exchanges = list(read_exchanges(str(log))) if log.is_file() else []
    by_id = {t.trial_id: t for t in trials}
    for record in exchanges:
        decision = record.get("decision")
        if record.get("role") == "analyst" and decision and decision.get("trial_id") in by_id:
            by_id[decision["trial_id"]].decisions.append(decision)
    if metric is None or mode is None:
        guessed_metric, guessed_mode = guess_objective([r for t in trials for r in t.results])
        metric, mode = metric or guessed_metric, mode or guessed_mode
    return ExperimentData(root, metric, mode, trials, exchanges)
