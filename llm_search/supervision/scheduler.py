"""LLMSupervisor: a Tune scheduler whose analyst reads running trials and continues, retunes, redesigns or stops them.

Every ``analyze_interval`` reports of a trial, the analyst role (``analyst.py``) gets the trial's
metrics and gradient norms, in a worker thread: the Tune loop never waits for it. Its verdict is
acted on at the trial's next report:

- ``continue``: nothing changes; a verdict of ``stability >= stable_at`` doubles the trial's interval
  (up to ``max_interval``), so a healthy trial costs fewer calls.
- ``adjust``: the change is checked against ``adjustable`` (names and ranges, as Tune domains); the
  trial is paused, its config updated and it resumes from its latest checkpoint, as PBT's exploit
  step does (the trainable must report checkpoints and apply the config's hyperparameters after
  restoring them, as ``trainables.train_image_classifier`` does).
- ``redesign``: the trial stops and its diagnosis goes to the searcher's architecture search, which
  writes a network at its next proposal (``LLMSearcher(architectures=...)``); without one, it stops.
- ``stop``: the trial stops (diverged, hopeless, or converged).

A failing, slow or confused analyst means ``continue``: a backend error, an exception, or an answer
that is not a verdict is logged with the reason and the trial goes on. Every analysis and the action
taken go to the experiment's exchange log (role ``analyst``), and to :attr:`LLMSupervisor.decisions`.

Example:
    >>> from ray import tune
    >>> supervisor = LLMSupervisor("local", adjustable={"learning_rate": tune.loguniform(1e-4, 1.0)})
    >>> supervisor.analyze_interval
    2
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Mapping

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from llm_search.backends.base import Backend
from llm_search.backends.registry import BackendSpec, get_backend
from llm_search.exchange_log import ExchangeLog, read_exchanges
from llm_search.params import Rejected
from llm_search.space import SearchSpace
from llm_search.supervision.analyst import TrialWatch, analyst_messages
from llm_search.supervision.verdict import VERDICT_SCHEMA, Verdict, parse_verdict, verdict_grammar

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

logger = logging.getLogger(__name__)

# The embedded model the analyst defaults to. Asked about a diverging run (loss x2.6 in 3 reports, lr 0.5),
# the 1.5B answered adjust learning_rate=0.05 three times out of three; the 0.5B once adjust (to lr 1),
# twice continue; SmolLM2-135M is not up to it.
DEFAULT_ANALYST_MODEL = "local:qwen2.5-coder-1.5b"


class LLMSupervisor(FIFOScheduler):
    """A Tune scheduler that asks an analyst LLM about each running trial (see the module docstring).

    Args:
        backend: The analyst's backend (spec string or object), e.g. ``"local:qwen2.5-coder-1.5b"`` (the
            default; ``llm-search models install qwen2.5-coder-1.5b``) or ``"bedrock:..."``. Embedded
            models answer under a grammar (``verdict_grammar``): a well-formed verdict, in-range changes.
        metric, mode: The objective; default: Tune's (``TuneConfig(metric=..., mode=...)``).
        analyze_interval: Reports between two analyses of a trial (the first after this many).
        max_interval: Largest interval a stable trial's analyses widen to.
        stable_at: Stability (0..1) from which a ``continue`` widens the interval.
        adjustable: Hyperparameters ``adjust`` may change, as Tune domains (``{"learning_rate":
            tune.loguniform(1e-5, 1.0)}``); None: no changes, ``adjust`` is read as ``continue``.
        searcher: The experiment's ``LLMSearcher``: its exchange log is shared, and ``redesign`` goes
            to its architecture search.
        task: The task in a sentence, for the analyst.
        max_analyses_per_trial: Most analyses of one trial.
        exchange_log: Where analyses go (default: the searcher's, else the experiment directory's).
        temperature, max_tokens: The analyst's sampling.
    """

    def __init__(
        self,
        backend: BackendSpec = DEFAULT_ANALYST_MODEL,
        *,
        metric: str | None = None,
        mode: str | None = None,
        analyze_interval: int = 2,
        max_interval: int = 8,
        stable_at: float = 0.8,
        adjustable: Mapping[str, Any] | None = None,
        searcher: Any = None,
        task: str | None = None,
        max_analyses_per_trial: int = 20,
        exchange_log: ExchangeLog | None = None,
        temperature: float = 0.3,
        max_tokens: int = 400,
    ):
        super().__init__()
        if analyze_interval < 1 or max_interval < analyze_interval:
            raise ValueError("analyze_interval must be >= 1 and max_interval >= analyze_interval")
        self._backend_spec = backend
        self._metric, self._mode = metric, mode
        self.analyze_interval = analyze_interval
        self.max_interval = max_interval
        self.stable_at = stable_at
        self.adjustable = SearchSpace.from_tune(dict(adjustable)) if adjustable else None
        self.searcher = searcher
        self.task = task
        self.max_analyses_per_trial = max_analyses_per_trial
        self.temperature, self.max_tokens = temperature, max_tokens
        shared = getattr(searcher, "_log", None)
        self._log = exchange_log or (shared if isinstance(shared, ExchangeLog) else ExchangeLog())
        self.decisions: list[dict[str, Any]] = []  # one per analysis acted on, oldest first
        self._watches: dict[str, TrialWatch] = {}
        self._interval: dict[str, int] = {}
        self._next_at: dict[str, int] = {}
        self._analyses: dict[str, int] = {}
        self._recalled = False  # earlier decisions read back from the exchange log (after a restore)
        self._setup_runtime()

    def _setup_runtime(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._backend: Backend | None = None

    def __getstate__(self) -> dict:
        # Tune pickles the scheduler with the Tuner: threads, futures and a loaded model stay behind.
        state = self.__dict__.copy()
        for name in ("_lock", "_pending", "_executor", "_backend"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup_runtime()

    # ------------------------------------------------------------------ Tune contract
    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def on_trial_add(self, tune_controller: "TuneController", trial: Trial) -> None:
        if not self._log.pinned and not self._log.path and getattr(trial, "local_experiment_path", None):
            # A file path: the experiment's driver directory may not exist yet (Tune syncs it to storage).
            self._log.set_path(os.path.join(trial.local_experiment_path, "llm_exchanges.jsonl"))
        if not getattr(self, "_recalled", False) and self._log.path:
            self._recall_decisions(self._log.path)

    def _recall_decisions(self, path: str) -> None:
        """After ``Tuner.restore`` (Tune restores a scheduler as it was created, re-adding every trial),
        take the decisions and per-trial analysis counts back from the experiment's exchange log."""
        self._recalled = True
        if self.decisions or not os.path.exists(path):
            return
        for record in read_exchanges(path):
            decision = record.get("decision")
            if record.get("role") == "analyst" and isinstance(decision, dict):
                self.decisions.append(decision)
                trial_id = decision.get("trial_id")
                self._analyses[trial_id] = self._analyses.get(trial_id, 0) + 1
        if self.decisions:
            logger.info("Supervisor: %d earlier decisions taken back from %s", len(self.decisions), path)

    def on_trial_result(self, tune_controller: "TuneController", trial: Trial, result: dict) -> str:
        trial_id = trial.trial_id
        watch = self._watches.setdefault(trial_id, TrialWatch(trial_id, dict(trial.config)))
        watch.add(result)
        reports = len(watch.reports)
        with self._lock:
            future = self._pending.get(trial_id)
        if future is not None and future.done():
            with self._lock:
                self._pending.pop(trial_id, None)
            verdict, record = future.result()  # _analyze never raises
            return self._act(tune_controller, trial, watch, verdict, record)
        interval = self._interval.setdefault(trial_id, self.analyze_interval)
        due = self._next_at.setdefault(trial_id, interval)
        if future is None and reports >= due and self._analyses.get(trial_id, 0) < self.max_analyses_per_trial:
            self._next_at[trial_id] = reports + interval
            self._analyses[trial_id] = self._analyses.get(trial_id, 0) + 1
            snapshot = copy.deepcopy(watch)
            with self._lock:
                self._pending[trial_id] = self._pool().submit(self._analyze, snapshot)
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: "TuneController", trial: Trial, result: dict) -> None:
        self._forget(trial)

    def on_trial_error(self, tune_controller: "TuneController", trial: Trial) -> None:
        self._forget(trial)

    def on_trial_remove(self, tune_controller: "TuneController", trial: Trial) -> None:
        self._forget(trial)

    def debug_string(self) -> str:
        actions = [d["action"] for d in self.decisions]
        counts = ", ".join(f"{a} {actions.count(a)}" for a in ("continue", "adjust", "redesign", "stop"))
        return f"LLM supervisor: {len(self.decisions)} analyses ({counts})."

    # ------------------------------------------------------------------ analysis (worker thread)
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-supervisor")
        return self._executor

    def _forget(self, trial: Trial) -> None:
        with self._lock:
            future = self._pending.pop(trial.trial_id, None)
        if future is not None:
            future.cancel()  # a verdict on a finished trial has nothing to act on

    def _analyze(self, watch: TrialWatch) -> tuple[Verdict, dict[str, Any]]:
        messages = analyst_messages(
            watch, self._metric or "objective", self._mode or "min", adjustable=self.adjustable, task=self.task
        )
        record: dict[str, Any] = {
            "time": time.time(),
            "role": "analyst",
            "trial_id": watch.trial_id,
            "report": len(watch.reports),
            "messages": messages,
        }
        try:
            if self._backend is None:
                self._backend = get_backend(self._backend_spec)
            record["backend"] = self._backend.name
            options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
            if self._backend.supports_grammar:
                options["grammar"] = verdict_grammar(self.adjustable)
            completion = self._backend.complete(messages, schema=VERDICT_SCHEMA, **options)
        except Exception as exc:  # a failing analyst must never cost the trial
            logger.warning("The analyst failed on trial %s (%s); the trial continues", watch.trial_id, exc)
            record["error"] = f"{type(exc).__name__}: {exc}"
            return Verdict(problems=[f"the analyst failed: {exc}"]), record
        record.update(
            model=completion.model,
            answer=completion.text,
            tokens={"prompt": completion.prompt_tokens, "completion": completion.completion_tokens},
            latency_s=round(completion.latency_s, 3),
        )
        return parse_verdict(completion.text), record

    # ------------------------------------------------------------------ actions (Tune loop)
    def _act(
        self, tune_controller: "TuneController", trial: Trial, watch: TrialWatch, verdict: Verdict, record: dict
    ) -> str:
        notes = list(verdict.problems)
        action, decision = verdict.recommendation, TrialScheduler.CONTINUE
        if action == "adjust":
            new_config, problems = self._changed_config(dict(trial.config), verdict.change)
            notes += problems
            if new_config is None:
                action = "continue"
            elif trial.checkpoint is None:
                notes.append("no checkpoint to resume from yet: the change waits for a later analysis")
                action = "continue"
            else:
                change = ", ".join(
                    f"{k} {trial.config.get(k)!r} -> {v!r}" for k, v in new_config.items() if trial.config.get(k) != v
                )
                trial.set_config({**trial.config, **new_config})
                watch.config = dict(trial.config)
                watch.changes.append(f"after report {len(watch.reports)}: {change} ({verdict.reason[:120]})")
                # Tune saves this report's checkpoint, pauses, and restarts the trial from it with the new config.
                decision = TrialScheduler.PAUSE
        elif action == "redesign":
            request = getattr(self.searcher, "request_redesign", None)
            if request is None or not request(trial.trial_id, watch.diagnosis(), verdict.reason):
                notes.append("redesign asked, but the searcher has no architecture search: the trial stops")
            decision = TrialScheduler.STOP
        elif action == "stop":
            decision = TrialScheduler.STOP
        if action == "continue" and verdict.stability is not None and verdict.stability >= self.stable_at:
            widened = min(self.max_interval, 2 * self._interval.get(trial.trial_id, self.analyze_interval))
            self._interval[trial.trial_id] = widened
        decision_record = {
            "trial_id": trial.trial_id,
            "report": record["report"],
            "acted_at_report": len(watch.reports),
            "iteration": watch.reports[-1].get("training_iteration"),
            "action": action,
            "verdict": verdict.to_dict(),
            "notes": notes,
            "latency_s": record.get("latency_s", 0.0),
        }
        self.decisions.append(decision_record)
        record.update(decision=decision_record)
        self._log.append(record)
        logger.info("Supervisor: trial %s -> %s (%s)", trial.trial_id, action, verdict.reason[:120] or "; ".join(notes))
        return decision

    def _changed_config(self, config: dict[str, Any], change: Mapping[str, Any]) -> tuple[dict | None, list[str]]:
        """The checked new values of ``change`` (None if nothing valid changes), and what was refused."""
        if self.adjustable is None:
            return None, ["adjust asked, but no hyperparameter is adjustable (LLMSupervisor(adjustable=...))"]
        accepted: dict[str, Any] = {}
        problems: list[str] = []
        for name, value in change.items():
            if name not in self.adjustable.names:
                problems.append(f"{name!r} is not adjustable (adjustable: {', '.join(self.adjustable.names)})")
                continue
            try:
                coerced, issues = self.adjustable[name].coerce(value)
            except Rejected as exc:
                problems.append(f"{name}: {exc}")
                continue
            problems += [str(p) for p in issues]
            if coerced != config.get(name):
                accepted[name] = coerced
        return (accepted or None), problems
