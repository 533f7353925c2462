"""LLMSearcher's saved state: what Tune checkpoints and restores (``get_state``/``set_state``, ``save``/``restore``).

An explicit, minimal state dict, never ``self.__dict__`` wholesale (as Ray's own searchers do): the
space, the history, the points and queue, the RNG, the counters and the proposer's own state.
Clients, threads and model handles are recreated lazily after a restore. States of older versions
are migrated (``_migrate_state``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
from collections import deque
from typing import Any

from llm_search.history import History
from llm_search.proposal import Proposal, ProposalSource
from llm_search.space import SearchSpace

STATE_VERSION = 3  # 3: finished history records stored pickled (``History.to_state``)
PROPOSER_MISMATCH = (
    "This LLMSearcher state was saved by a searcher built as {saved}, but this one is built as {now}: "
    "create the searcher with the settings the experiment started with (strategy=, initial_design=, "
    "architectures=) to resume it.{hint}"
)
# Until the hybrid became the default (with a 5-trial start), LLMSearcher() was pure LLM search.
OLD_DEFAULT_HINT = (
    " A state saved by LLMSearcher() before the hybrid became the default strategy resumes with "
    "LLMSearcher(strategy='llm', initial_design=0)."
)


def proposer_chain(proposer: Any) -> str:
    """How a searcher's proposer is built, outermost first, e.g. ``"InitialDesign > HybridProposer"``."""
    names = []
    while proposer is not None:
        names.append(type(proposer).__name__)
        proposer = getattr(proposer, "inner", None)
    return " > ".join(names)


class SearcherStateMixin:
    """Save and restore for :class:`~llm_search.searcher.LLMSearcher` (which holds the attributes used here)."""

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        # Tune calls this with the experiment's driver directory: the place for the exchange log,
        # and where failed trials leave their error.txt.
        self._experiment_dir = checkpoint_dir
        if not self._log.pinned:  # follow the experiment, also into a restored run's new directory
            self._log.set_path(checkpoint_dir)
        super().save_to_dir(checkpoint_dir, session_str)

    def get_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": STATE_VERSION,
                "space": self._space,
                "metric": self._metric,
                "mode": self._mode,
                "history": self._history.to_state(),
                "points": list(self._points),
                "raw_points": self._raw_points,
                "external_points": self._external_points,
                "queue": [(p.config, p.source.value, p.ticket) for p in self._queue],
                "rng": self._rng.bit_generator.state,
                "n_suggested": self._n_suggested,
                "n_filled": self._n_filled,
                "num_samples": self._num_samples,
                "max_concurrent": self._max_concurrent,
                "proposer": self._proposer.get_state(),
                "proposer_chain": proposer_chain(self._proposer),
                "log_path": self._log.path,
                "budget_spent": self._budget.spent() if self._budget else None,
            }

    def set_state(self, state: dict[str, Any]) -> None:
        state = _migrate_state(state)
        with self._lock:
            self._restore_proposer(state)  # first: a state of another strategy is refused before any change
            space = state["space"]  # rebuilt, so a space pickled by an older version gets today's lookups
            self._space = SearchSpace(space.params, space.constants, space.paths)
            self._metric, self._mode = state["metric"], state["mode"]
            self._history = History.from_state(state["history"])
            # Tune resumes some of these (their next report revives them) and may skip others: until
            # then they neither take a trial slot nor show as running in the prompt.
            self._history.interrupt_running()
            self._points = deque(state["points"])
            self._raw_points = state["raw_points"]
            self._external_points = state["external_points"]
            self._queue = deque(Proposal(c, ProposalSource(s), t) for c, s, t in state["queue"])
            # Derived, not restored: keys of older versions may differ from today's.
            self._seen = {
                self._space.key(c)
                for c in [
                    *(r.config for r in self._history.records.values()),
                    *self._points,
                    *(p.config for p in self._queue),
                ]
            }
            self._rng.bit_generator.state = state["rng"]
            self._n_suggested = state["n_suggested"]
            self._n_filled = state.get("n_filled", 0)
            self._num_samples = state.get("num_samples")
            self._max_concurrent = state["max_concurrent"] or self._max_concurrent
            if state.get("budget_spent") and self._budget is not None:
                self._budget.load_spent(state["budget_spent"])
            if state.get("log_path") and self._log.path is None:
                self._log.set_path(state["log_path"])

    def _restore_proposer(self, state: dict[str, Any]) -> None:
        now, saved = proposer_chain(self._proposer), state.get("proposer_chain")
        if saved is not None:
            if saved != now:
                raise ValueError(PROPOSER_MISMATCH.format(saved=saved, now=now, hint=""))
            self._proposer.set_state(state["proposer"])
            return
        try:  # saved before the chain was recorded: a state that does not fit is another strategy's
            self._proposer.set_state(state["proposer"])
        except (KeyError, TypeError) as exc:
            raise ValueError(
                PROPOSER_MISMATCH.format(saved="another strategy", now=now, hint=OLD_DEFAULT_HINT)
            ) from exc

    def save(self, checkpoint_path: str) -> None:
        """Write the explicit state (space, history, live trials, queue, RNG, counters), atomically.

        The state goes to a temporary file beside ``checkpoint_path`` that replaces it once complete, so
        a driver killed mid-write leaves the previous state readable, never a truncated one.
        """
        directory = os.path.dirname(os.path.abspath(checkpoint_path))
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".searcher-state-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(self.get_state(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, checkpoint_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    def __getstate__(self) -> dict:
        # Tuner pickles searchers; locks and threads cannot travel (backends drop their handles).
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_worker"] = None
        state["_last_snapshot"] = None  # a cache of the last round's history copy
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_last_snapshot", None)
        self.__dict__.setdefault("_round_cpu_s", 0.0)
        self._lock = threading.RLock()


def _migrate_state(state: dict[str, Any]) -> dict[str, Any]:
    """A saved state in today's form; version 1 (before the proposer interface) is converted."""
    version = state.get("version")
    if version == 1:
        state = {
            **state,
            "version": STATE_VERSION,
            "queue": [(config, source, None) for config, source in state["queue"]],
            "proposer": {"stats": state["stats"], "disabled_reason": state["disabled_reason"]},
        }
    elif version == 2:  # History.from_state reads version 2's plain records as they are
        state = {**state, "version": STATE_VERSION}
    elif version != STATE_VERSION:
        raise ValueError(
            f"Unsupported LLMSearcher state version {version!r}: it was saved by a newer llm-search; "
            "upgrade llm-search to restore it."
        )
    return state
