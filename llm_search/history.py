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

import heapq
import math
import pickle
import time
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from llm_search.diagnostics import diagnose, grad_norms_from_result
from llm_search.numbers import real_number
from llm_search.proposal import ProposalSource, TrialStatus

MAX_SERIES = 16  # reports kept per gradient-norm series (oldest dropped)
MAX_ERROR_CHARS = 400
KEPT_METRICS = 8  # numeric metrics kept per trial besides the objective


def _finite(x: Any) -> bool:
    value = real_number(x)
    return value is not None and math.isfinite(value)


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
    source: ProposalSource = ProposalSource.LLM
    status: TrialStatus = TrialStatus.RUNNING
    objective: float | None = None  # final reported value of the (primary) metric
    best_objective: float | None = None  # best value seen during the trial
    n_results: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    last_report: str | None = None  # identity of the last result added (Tune repeats it at completion)

    def __post_init__(self) -> None:  # plain strings from older saved states and external callers
        self.source, self.status = ProposalSource(self.source), TrialStatus(self.status)

    def diagnosis(self) -> str:
        return diagnose(self.grad_norms)

    def signature(self) -> tuple:
        """What changes when the record does: a new report, an end, a resume (Tune retries errored trials)."""
        return (self.status, self.n_results, self.ended)


_FIELD_NAMES = tuple(f.name for f in fields(TrialRecord))
FINISHED = (TrialStatus.COMPLETED, TrialStatus.ERRORED)


class History:
    """All trials the searcher knows of, keyed by trial id, in start order."""

    def __init__(self, metric: str | None = None, mode: str | None = None):
        self.metric = metric
        self.mode = mode
        self.records: dict[str, TrialRecord] = {}
        # Kept up to date by the updates below, so that the questions Tune's loop asks on every
        # suggest() (how many trials run?) do not walk a history of thousands of trials.
        self._running: dict[str, None] = {}
        self._finished: dict[str, None] = {}  # in the order the trials finished
        # Finished records pickled once, for the saved state (``to_state``): trial id -> (signature, bytes).
        self._packed: dict[str, tuple[tuple, bytes]] = {}

    # ------------------------------------------------------------------ updates
    def start(self, trial_id: str, config: Mapping[str, Any], source: ProposalSource | str) -> None:
        self.records[trial_id] = TrialRecord(trial_id, dict(config), source=ProposalSource(source))
        self._running[trial_id] = None
        self._finished.pop(trial_id, None)

    def add_result(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """Record one reported result; the same report passed again (as Tune does at completion) counts once."""
        record = self.records[trial_id]
        identity = _report_identity(result)
        if identity is not None and identity == record.last_report:
            return
        record.last_report = identity
        record.n_results += 1
        for layer, value in grad_norms_from_result(result).items():
            series = record.grad_norms.setdefault(layer, [])
            series.append(value)
            del series[:-MAX_SERIES]
        numeric = {
            k: number
            for k, v in result.items()
            if not str(k).startswith("grad_norm/") and (number := real_number(v)) is not None
        }
        kept = {k: v for k, v in numeric.items() if k == self.metric or k in record.metrics}
        for k, v in numeric.items():  # a few more metrics, in the order the trainable reports them
            if len(kept) >= KEPT_METRICS + 1:
                break
            if k not in _BOOKKEEPING_KEYS:
                kept.setdefault(k, v)
        record.metrics.update(kept)
        if self.metric and self.metric in result:
            value = real_number(result[self.metric])
            value = float("nan") if value is None else value
            record.objective = value
            if _finite(value) and (record.best_objective is None or self._better(value, record.best_objective)):
                record.best_objective = value

    def complete(self, trial_id: str, result: Mapping[str, Any] | None = None, error: str | None = None) -> None:
        record = self.records[trial_id]
        if result:
            self.add_result(trial_id, result)
        record.status = TrialStatus.ERRORED if error is not None else TrialStatus.COMPLETED
        self._running.pop(trial_id, None)
        self._finished.pop(trial_id, None)  # a retried trial moves to the end
        self._finished[trial_id] = None
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
        """Completed and errored trials, in the order they finished."""
        return [self.records[trial_id] for trial_id in self._finished]

    def running(self) -> list[TrialRecord]:
        return [self.records[trial_id] for trial_id in self._running]

    def n_running(self) -> int:
        return len(self._running)

    def interrupt_running(self) -> int:
        """Mark running trials as interrupted (after a restore, until Tune reports on them again)."""
        running = self.running()
        for record in running:
            record.status = TrialStatus.INTERRUPTED
        self._running.clear()
        return len(running)

    def resume(self, trial_id: str) -> None:
        """An interrupted or errored trial is running again (Tune resumed or retried it)."""
        record = self.records[trial_id]
        record.status, record.error, record.ended = TrialStatus.RUNNING, None, None
        self._running[trial_id] = None
        self._finished.pop(trial_id, None)

    def best(self, k: int) -> list[TrialRecord]:
        scored = [r for r in self.finished() if r.status is TrialStatus.COMPLETED and _finite(r.objective)]
        return heapq.nsmallest(k, scored, key=self.score)  # sorted; ties keep the order they finished

    @staticmethod
    def is_failure(record: TrialRecord) -> bool:
        """Errored, or completed without a finite objective (NaN/inf or never reported)."""
        return record.status is TrialStatus.ERRORED or (
            record.status is TrialStatus.COMPLETED and not _finite(record.objective)
        )

    def counts(self) -> dict[str, int]:
        c = {"total": len(self.records), **{status.value: 0 for status in TrialStatus}, "non_finite": 0}
        for r in self.records.values():
            c[r.status.value] += 1
            if r.status is TrialStatus.COMPLETED and not _finite(r.objective):
                c["non_finite"] += 1
        return c

    # ------------------------------------------------------------------ state
    def snapshot(self, previous: "History | None" = None) -> "History":
        """A copy for a proposal round to read while Tune keeps updating this one.

        A finished record no longer changes, so its copy in ``previous`` (the last round's snapshot)
        is reused and only running or changed records are copied (copying all 1,000 records of a
        long run took ~200 ms of the driver's CPU per round). Snapshots are read, never modified.

        Example:
            >>> h = History("loss", "min")
            >>> h.start("a", {"x": 1}, ProposalSource.LLM); h.complete("a", {"loss": 0.5})
            >>> first = h.snapshot(); h.start("b", {"x": 2}, ProposalSource.LLM)
            >>> second = h.snapshot(first)
            >>> second.records["a"] is first.records["a"], list(second.records)
            (True, ['a', 'b'])
        """
        copy = History(self.metric, self.mode)
        kept = previous.records if previous is not None else {}
        for trial_id, record in self.records.items():
            old = kept.get(trial_id)
            unchanged = old is not None and record.status in FINISHED and old.signature() == record.signature()
            copy.records[trial_id] = old if unchanged else TrialRecord(**_fields(record))
        copy._running, copy._finished = dict(self._running), dict(self._finished)
        return copy

    def to_state(self) -> dict[str, Any]:
        """The records as plain data; a finished one as its pickle, made once (it no longer changes).

        Tune saves the searcher's state every few seconds; re-encoding 1,000 finished records each
        time took ~35 ms of the driver's CPU, growing with the run.
        """
        records: list[dict[str, Any] | bytes] = []
        for trial_id, record in self.records.items():
            if record.status not in FINISHED:
                records.append(_record_state(record))
                continue
            signature = record.signature()
            packed = self._packed.get(trial_id)
            if packed is None or packed[0] != signature:
                packed = (signature, pickle.dumps(_record_state(record), protocol=pickle.HIGHEST_PROTOCOL))
                self._packed[trial_id] = packed
            records.append(packed[1])
        return {"metric": self.metric, "mode": self.mode, "records": records}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "History":
        history = cls(state.get("metric"), state.get("mode"))
        for data in state.get("records", []):
            record = TrialRecord(**(pickle.loads(data) if isinstance(data, bytes) else data))
            history.records[record.trial_id] = record
        history._index()
        return history

    def _index(self) -> None:
        """Build the running and finished indexes from the records (after loading them)."""
        self._running = {i: None for i, r in self.records.items() if r.status is TrialStatus.RUNNING}
        finished = sorted((r for r in self.records.values() if r.status in FINISHED), key=lambda r: r.ended or 0)
        self._finished = {r.trial_id: None for r in finished}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_packed": {}}  # a cache: Tuner pickles the searcher, and with it this

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_finished" not in state:  # pickled by a version without the indexes
            self._index()
        self._packed = {}


def _record_state(record: TrialRecord) -> dict[str, Any]:
    return {**_fields(record), "source": record.source.value, "status": record.status.value}


def _fields(record: TrialRecord) -> dict[str, Any]:
    """A record's fields with its mutable containers copied one level deep: what ``asdict`` gives
    for these flat fields, ~10x faster (Tune saves the state often; 1,000 records took 39 ms)."""
    values = {name: getattr(record, name) for name in _FIELD_NAMES}
    values["config"] = dict(record.config)
    values["metrics"] = dict(record.metrics)
    values["grad_norms"] = {name: list(series) for name, series in record.grad_norms.items()}
    return values


def _report_identity(result: Mapping[str, Any]) -> str | None:
    """What tells one report from the next: Tune's iteration counter and timestamp, else the numbers."""
    marks = {k: result[k] for k in ("training_iteration", "timestamp", "time_total_s") if k in result}
    if not marks:
        marks = {str(k): v for k, v in result.items() if k != "done" and real_number(v) is not None}
    return repr(sorted(marks.items())) if marks else None


_BOOKKEEPING_KEYS = {
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "training_iteration",
    "pid",
    "time_since_restore",
    "iterations_since_restore",
    "timesteps_total",
    "episodes_total",
    "timesteps_since_restore",
    "done",
}
