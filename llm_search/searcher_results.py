"""How results reach LLMSearcher's history: Tune's reports, failures and evaluations from elsewhere.

Tune reports on trials the searcher may not have started in this session (after ``Tuner.restore`` it
resumes interrupted and errored trials, or re-runs them under new ids); such reports are adopted from
the config in their result, late or duplicate ones are ignored with a log line, and a failed trial's
error text is read from the ``error.txt`` Tune wrote, so that the next prompt can show it.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from typing import Any, Mapping

from llm_search.history import TrialRecord
from llm_search.proposal import ProposalSource, TrialStatus

logger = logging.getLogger(__name__)

UNKNOWN_TRIAL = "LLMSearcher got a result for unknown trial %s without a config of this search space; ignored."
LATE_RESULT = "LLMSearcher got a result for trial %s after it finished (late or duplicate report); ignored."
RESUMED_TRIAL = "Trial %s reports again after it was %s: Tune resumed it; its results count."
ADOPTED_TRIAL = "Trial %s was not started by this searcher%s; recorded from the config in its result."


class SearcherResultsMixin:
    """Results in for :class:`~llm_search.searcher.LLMSearcher` (which holds the attributes used here)."""

    # ------------------------------------------------------------------ Tune contract: results
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        with self._lock:
            if self._live_record(trial_id, result) is not None:
                self._history.add_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool | str | BaseException = False
    ) -> None:
        with self._lock:
            record = self._live_record(trial_id, result)
            if record is None:
                return
            error_text = None
            if error is not False and error is not None:
                error_text = (
                    error if isinstance(error, str) else str(error) if isinstance(error, BaseException) else None
                )
                error_text = error_text or self._find_error_text(trial_id)
            self._history.complete(trial_id, result, error=error_text)
            value = record.objective
            if error_text is None and value is not None and not math.isfinite(value):
                logger.info(
                    "Trial %s finished with %s=%s; recorded as a failed configuration.",
                    trial_id,
                    self._history.metric,
                    value,
                )

    def _live_record(self, trial_id: str, result: Mapping[str, Any] | None) -> TrialRecord | None:
        """The running record a report belongs to, or None (logged) when the report is to be ignored.

        Tune reports on trials the searcher did not start in this session: after ``Tuner.restore``
        it resumes interrupted trials and, with ``resume_errored``, errored ones under their old ids;
        with ``restart_errored`` it re-runs them under new ids. Their results count like any other.
        """
        record = self._history.records.get(trial_id)
        if record is None:
            return self._adopt(trial_id, result)
        if record.status in (TrialStatus.INTERRUPTED, TrialStatus.ERRORED):
            logger.info(RESUMED_TRIAL, trial_id, record.status.value)
            self._history.resume(trial_id)
        elif record.status is not TrialStatus.RUNNING:
            logger.warning(LATE_RESULT, trial_id)
            return None
        return record

    def _adopt(self, trial_id: str, result: Mapping[str, Any] | None) -> TrialRecord | None:
        """Start a record for a trial Tune runs under an id we never gave out, from its result's config."""
        flat = self._config_in_result(result) if result and self._space is not None else None
        if flat is None:
            logger.warning(UNKNOWN_TRIAL, trial_id)
            return None
        key = self._space.key(flat)
        earlier = [r for r in self._history.records.values() if self._space.key(r.config) == key]
        source = earlier[-1].source if earlier else ProposalSource.EXTERNAL
        logger.info(ADOPTED_TRIAL, trial_id, f" (a re-run of {earlier[-1].trial_id})" if earlier else "")
        self._history.start(trial_id, flat, source)
        self._seen.add(key)
        return self._history.records[trial_id]

    def _config_in_result(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        """The searched values of the config Tune puts in every result (flattened to ``config/...`` keys)."""
        config = result.get("config")
        if not isinstance(config, Mapping):  # flat "a/b" names are what the space's names are
            prefix = "config/"
            config = {k[len(prefix) :]: v for k, v in result.items() if str(k).startswith(prefix)}
        flat, _ = self._space.validate(config) if config else (None, [])
        return flat

    def _find_error_text(self, trial_id: str) -> str:
        """The error Tune wrote for a failed trial (Tune passes only ``error=True`` to searchers)."""
        if self._experiment_dir:
            for path in glob.glob(os.path.join(glob.escape(self._experiment_dir), f"*{trial_id}*", "error.txt")):
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        return f.read()[-4000:]
                except OSError:
                    pass
        return "the trial raised an error (see its error.txt)"

    # ------------------------------------------------------------------ earlier results
    def add_evaluated_point(
        self,
        parameters: dict,
        value: float | None,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list[float] | None = None,
    ) -> None:
        """Record a configuration evaluated outside this search (seeds the LLM's history)."""
        point = {"parameters": dict(parameters), "value": value, "error": error}
        if self._space is None:
            self._external_points.append(point)  # recorded once the space is known
        else:
            self._record_external(**point)

    def _record_external(self, parameters: dict, value: float | None, error: bool) -> None:
        assert self._space is not None
        flat, problems = self._space.validate(parameters)
        if flat is None:
            logger.warning(
                "Evaluated point %s does not fit the search space (%s); skipped.",
                parameters,
                "; ".join(str(p) for p in problems if p.fatal),
            )
            return
        with self._lock:
            trial_id = f"external_{len(self._history.records)}"
            self._history.start(trial_id, flat, ProposalSource.EXTERNAL)
            result = {self._history.metric: value} if value is not None and self._history.metric else None
            self._history.complete(trial_id, result, error="evaluated externally with an error" if error else None)
            self._seen.add(self._space.key(flat))

    def add_evaluated_trials(self, trials_or_analysis: Any, metric: str) -> None:
        """Add results of another experiment: a ``ResultGrid``, ``ExperimentAnalysis`` or trials."""
        from ray.tune import ResultGrid

        if isinstance(trials_or_analysis, ResultGrid):
            for result in trials_or_analysis:
                metrics = result.metrics or {}
                self.add_evaluated_point(result.config or {}, metrics.get(metric), error=result.error is not None)
            return
        super().add_evaluated_trials(trials_or_analysis, metric)
