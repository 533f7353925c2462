"""LLMSearcher's saved state: what Tune checkpoints and restores (``get_state``/``set_state``, ``save``/``restore``).

An explicit, minimal state dict, never ``self.__dict__`` wholesale (as Ray's own searchers do): the
space, the history, the points and queue, the RNG, the counters and the proposer's own state.
Clients, threads and model handles are recreated lazily after a restore. States of older versions
are migrated (``_migrate_state``).
"""

from __future__ import annotations

import glob
import logging
import os
import pickle
import shutil
import threading
from collections import deque
from typing import Any

from llm_search.atomic_file import write_atomically
from llm_search.history import History
from llm_search.proposal import Proposal, ProposalSource
from llm_search.space import SearchSpace

logger = logging.getLogger(__name__)

STATE_VERSION = 3  # 3: finished history records stored pickled (``History.to_state``)
PROPOSER_MISMATCH = (
    "This LLMSearcher state was saved by a searcher built as {saved}, but this one is built as {now}: "
    "create the searcher with the settings the experiment started with (strategy=, initial_design=, "
    "architectures=) to resume it.{hint}"
)
# Ray copies the driver's files to the storage path non-atomically (pyarrow ``copy_files``, Ray 2.60): a driver
# killed mid-copy leaves that copy truncated, even empty (seen in tests; ray-project/ray#58179 for tuner.pkl). So
# each save also writes a second copy under a name Ray's own restore ignores, and a restore reads the first
# readable of the two. Named ``*.pkl``: Tune downloads only top-level ``*.json``/``*.pkl`` files on restore.
STATE_FILE = "searcher-state-{}.pkl"  # Ray's ``Searcher.CKPT_FILE_TMPL``
BACKUP_FILE = "searcher-backup-{}.pkl"
UNREADABLE_STATE = (
    "No readable LLMSearcher state in {directory} (tried {tried}): the driver was killed while Ray copied them to "
    "storage. Tune.restore cannot resume this searcher; start a new experiment instead (the finished trials' "
    "results stay in {directory}/*/result.json)."
)


def saved_state_files(directory: str) -> list[str]:
    """The state files a restore tries, in order: each session's state then its backup, newest session first."""
    found = {p for name in (STATE_FILE, BACKUP_FILE) for p in glob.glob(os.path.join(directory, name.format("*")))}
    sessions = sorted({os.path.basename(p).split("-", 2)[2][: -len(".pkl")] for p in found}, reverse=True)
    paths = [os.path.join(directory, name.format(s)) for s in sessions for name in (STATE_FILE, BACKUP_FILE)]
    return [p for p in paths if p in found]


def load_saved_state(directory: str) -> dict[str, Any]:
    """The newest readable LLMSearcher state saved in a Tune experiment directory.

    Falls back to the backup copy, then to older sessions, when a file is truncated; raises ``RuntimeError``
    naming the files when none can be read.

    >>> state = load_saved_state("~/ray_results/my-experiment")  # doctest: +SKIP
    >>> state["metric"], state["mode"]  # doctest: +SKIP
    ('loss', 'min')
    """
    directory = os.path.expanduser(directory)
    tried = []
    for path in saved_state_files(directory):
        try:
            with open(path, "rb") as f:
                state = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            logger.warning(
                "LLMSearcher state %s is unreadable (%s: %s); trying the next copy.", path, type(exc).__name__, exc
            )
            tried.append(os.path.basename(path))
            continue
        if tried:
            logger.warning("LLMSearcher resumes from %s (%s unreadable).", path, ", ".join(tried))
        return state
    if not tried:
        raise RuntimeError(f"No LLMSearcher state in {directory}: is it a Tune experiment directory?")
    raise RuntimeError(UNREADABLE_STATE.format(directory=directory, tried=", ".join(tried)))


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
        state_path = os.path.join(checkpoint_dir, STATE_FILE.format(session_str))
        if os.path.exists(state_path):  # the second copy (see STATE_FILE), of the bytes just written
            with open(state_path, "rb") as source:
                write_atomically(
                    os.path.join(checkpoint_dir, BACKUP_FILE.format(session_str)),
                    lambda f: shutil.copyfileobj(source, f),
                )

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Restore from the newest readable state Tune saved in ``checkpoint_dir`` (see :func:`load_saved_state`)."""
        self.set_state(load_saved_state(checkpoint_dir))

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
        """Write the explicit state (space, history, live trials, queue, RNG, counters), atomically."""
        state = self.get_state()
        write_atomically(checkpoint_path, lambda f: pickle.dump(state, f))

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
