"""Trial records, and their compaction into a bounded prompt context.

The searcher records every trial it knows of (its own, ``points_to_evaluate``, and results added
with ``add_evaluated_point``): config, status, the latest value of each numeric metric, the best
value of the objective, gradient-norm series and error text. The queries below (best, failures,
finished in order) are what ``llm_search.prompts`` builds its bounded history from.

Example:
    >>> h = History(metric="loss", mode="min")
    >>> h.start("t1", {"x": 1.0}, source="llm")
    >>> h.complete("t1", {"loss": 0.5})
    >>> h.best(1)[0].objective
    0.5
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from llm_search.diagnostics import diagnose, grad_norms_from_result

MAX_SERIES = 16  # reports kept per gradient-norm series (oldest dropped)
MAX_ERROR_CHARS = 400
KEPT_METRICS = 8  # numeric metrics kept per trial besides the objective


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def summarize_error(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The informative tail of an error/traceback: the last non-empty lines, within ``limit``."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return "the trial raised an error"
    # The exception line is last; the line before often holds the failing code.
    summary = lines[-1]
    for line in reversed(lines[:-1]):
        if len(summary) + len(line) + 3 > limit or line.startswith(("File ", "Traceback", "^")):
            break
        summary = line + " | " + summary
    return summary[-limit:]


@dataclass
class TrialRecord:
    trial_id: str
    config: dict[str, Any]
    source: str = "llm"  # llm | random | points | external | optimizer
    status: str = "running"  # running | completed | errored
    objective: float | None = None  # final reported value of the (primary) metric
    best_objective: float | None = None  # best value seen during the trial
    n_results: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None

    def diagnosis(self) -> str:
        return diagnose(self.grad_norms)


class History:
    """All trials the searcher knows of, keyed by trial id, in start order."""

    def __init__(self, metric: str | None = None, mode: str | None = None):
        self.metric = metric
        self.mode = mode
        self.records: dict[str, TrialRecord] = {}

    # ------------------------------------------------------------------ updates
    def start(self, trial_id: str, config: Mapping[str, Any], source: str) -> None:
        self.records[trial_id] = TrialRecord(trial_id, dict(config), source=source)

    def add_result(self, trial_id: str, result: Mapping[str, Any]) -> None:
        record = self.records[trial_id]
        record.n_results += 1
        for layer, value in grad_norms_from_result(result).items():
            series = record.grad_norms.setdefault(layer, [])
            series.append(value)
            del series[:-MAX_SERIES]
        numeric = {k: float(v) for k, v in result.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and not str(k).startswith("grad_norm/")}
        kept = {k: v for k, v in numeric.items() if k == self.metric or k in record.metrics}
        for k, v in numeric.items():  # a few more metrics, in the order the trainable reports them
            if len(kept) >= KEPT_METRICS + 1:
                break
            if k not in _BOOKKEEPING_KEYS:
                kept.setdefault(k, v)
        record.metrics.update(kept)
        if self.metric and self.metric in result:
            value = result[self.metric]
            value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
            record.objective = value
            if _finite(value) and (record.best_objective is None or self._better(value, record.best_objective)):
                record.best_objective = value

    def complete(self, trial_id: str, result: Mapping[str, Any] | None = None, error: str | None = None) -> None:
        record = self.records[trial_id]
        if result:
            self.add_result(trial_id, result)
        record.status = "errored" if error is not None else "completed"
        record.error = summarize_error(error) if error is not None else None
        record.ended = time.time()

    # ------------------------------------------------------------------ queries
    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def score(self, record: TrialRecord) -> float:
        """Sort key, lower is better; missing/NaN objectives sort last."""
        value = record.objective
        if not _finite(value):
            return math.inf
        return value if self.mode == "min" else -value

    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status != "running"]

    def running(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status == "running"]

    def best(self, k: int) -> list[TrialRecord]:
        scored = [r for r in self.finished() if r.status == "completed" and _finite(r.objective)]
        return sorted(scored, key=self.score)[:k]

    def finished_in_order(self) -> list[TrialRecord]:
        """Finished trials in the order they finished (a new one is always appended at the end)."""
        return sorted(self.finished(), key=lambda r: r.ended or 0)

    @staticmethod
    def is_failure(record: TrialRecord) -> bool:
        """Errored, or completed without a finite objective (NaN/inf or never reported)."""
        return record.status == "errored" or (record.status == "completed" and not _finite(record.objective))

    def counts(self) -> dict[str, int]:
        c = {"total": len(self.records), "completed": 0, "errored": 0, "running": 0, "non_finite": 0}
        for r in self.records.values():
            c[r.status] += 1
            if r.status == "completed" and not _finite(r.objective):
                c["non_finite"] += 1
        return c

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "records": [asdict(r) for r in self.records.values()]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "History":
        history = cls(state.get("metric"), state.get("mode"))
        for data in state.get("records", []):
            history.records[data["trial_id"]] = TrialRecord(**data)
        return history


_BOOKKEEPING_KEYS = {
    "timestamp", "time_this_iter_s", "time_total_s", "training_iteration", "pid", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "episodes_total", "timesteps_since_restore", "done",
}
