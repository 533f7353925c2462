"""One progress line every so often for long runs: trials done, running, best so far, LLM calls and time.

Tune's own table repeats every trial; a run of hundreds of trials needs one line, at most every
``every_s`` seconds, plus a last one at the end. The lines go to the ``llm_search.progress`` logger,
which prints to stderr unless the application configured logging itself.

Example:
    >>> from ray import tune
    >>> progress = LLMProgress(every_s=60)  # tune.RunConfig(callbacks=[progress])
    >>> progress.line(done=3, total=10, running=2, best=(0.91, "a1"), metric="val_acc", llm=(12, 40.5))
    '3/10 trials done, 2 running; best val_acc=0.91 (trial a1); LLM: 12 calls, 40 s'
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

from ray.tune import Callback

logger = logging.getLogger("llm_search.progress")


def _ensure_visible() -> None:
    """Print INFO lines to stderr when nobody configured logging (as Ray does for its own loggers)."""
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[llm-search] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class LLMProgress(Callback):
    """A Tune callback that logs one progress line at most every ``every_s`` seconds, and one at the end.

    Args:
        every_s: Least seconds between two lines.
        searcher: The experiment's ``LLMSearcher``, for its LLM calls and seconds (optional).
        metric, mode: The objective; default: the searcher's.
    """

    def __init__(
        self, every_s: float = 30.0, *, searcher: Any = None, metric: str | None = None, mode: str | None = None
    ):
        self.every_s = every_s
        self.searcher = searcher
        self.metric, self.mode = metric, mode
        self._last = 0.0
        self._best: tuple[float, str] | None = None
        self.lines: list[str] = []
        _ensure_visible()

    def _objective(self) -> tuple[str | None, str | None]:
        history = getattr(self.searcher, "history", None)
        return self.metric or getattr(history, "metric", None), self.mode or getattr(history, "mode", None)

    @staticmethod
    def line(
        *,
        done: int,
        total: int,
        running: int,
        best: tuple[float, str] | None,
        metric: str | None,
        llm: tuple[int, float] | None,
    ) -> str:
        text = f"{done}/{total} trials done, {running} running"
        if best is not None:
            text += f"; best {metric}={best[0]:.4g} (trial {best[1]})"
        if llm is not None:
            text += f"; LLM: {llm[0]} calls, {llm[1]:.0f} s"
        return text

    def _llm(self) -> tuple[int, float] | None:
        stats = getattr(self.searcher, "stats", None)
        if not isinstance(stats, dict):
            return None
        return int(stats.get("llm_calls", 0)), float(stats.get("llm_seconds", 0.0))

    def _emit(self, trials: list, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        running = sum(t.status == "RUNNING" for t in trials)
        metric, _ = self._objective()
        text = self.line(done=done, total=len(trials), running=running, best=self._best, metric=metric, llm=self._llm())
        self.lines.append(text)
        logger.info(text)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        metric, mode = self._objective()
        value = result.get(metric) if metric else None
        if isinstance(value, (int, float)) and math.isfinite(value) and mode in ("min", "max"):
            if self._best is None or (value > self._best[0] if mode == "max" else value < self._best[0]):
                self._best = (float(value), trial.trial_id)
        self._emit(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._emit(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._emit(trials, force=True)
