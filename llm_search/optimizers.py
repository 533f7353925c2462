"""A classical optimizer (Optuna TPE or CMA-ES) driven by ask/tell from the searcher's history.

The hybrid strategy needs an optimizer that (1) proposes configs, (2) learns from EVERY finished
trial, whoever proposed it, and (3) can describe its state to the LLM. Its study is rebuilt from
the history rather than pickled: :meth:`OptunaOptimizer.sync` tells it each finished trial once,
so after a restore the optimizer knows exactly what the history knows.

Each asked config carries a ticket; once Tune runs it as a trial (:meth:`OptunaOptimizer.started`),
``sync`` tells that very Optuna trial its result (two trials of one config are two Optuna trials).
Quantized parameters are searched by grid index (value = index * q, Tune's multiples of q), so
Optuna's values and the space's agree.

Example:
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace, FloatParam
    >>> opt = OptunaOptimizer(SearchSpace([FloatParam("x", 0.0, 1.0, q=0.25)]), seed=0)
    >>> h = History("loss", "min"); h.start("a", {"x": 0.25}, "llm"); h.complete("a", {"loss": 0.09})
    >>> opt.sync(h)
    1
    >>> proposal = opt.ask(1)[0]
    >>> proposal.config["x"] in (0.0, 0.25, 0.5, 0.75, 1.0), str(proposal.source)
    (True, 'optimizer')
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from typing import Any, Iterable, Mapping

from llm_search.backends.base import missing_dependency
from llm_search.history import History, TrialRecord
from llm_search.proposal import Proposal, ProposalSource
from llm_search.space import CategoricalParam, IntParam, Param, SearchSpace

logger = logging.getLogger(__name__)

CMAES_NEEDS_CONTINUOUS = (
    "optimizer='cmaes' needs a continuous search space (floats/ints), but {names} are categorical: "
    "use optimizer='tpe' for mixed spaces."
)
CANNOT_TELL = "The optimizer could not learn from trial %s (config %s): %s. It is skipped."


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise missing_dependency("optuna", "bench", "the hybrid strategy runs Optuna underneath") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _grid(p: Param) -> tuple[int, int]:
    """Index range of a quantized parameter: Tune's values are the multiples of ``q`` in its bounds."""
    low, high = math.ceil(round(p.low / p.q, 9)), math.floor(round(p.high / p.q, 9))
    if getattr(p, "log", False):
        low = max(low, 1)  # a log-scaled index starts at 1 (bounds are positive)
    return low, max(low, high)


class OptunaOptimizer:
    """Optuna's TPE (default) or CMA-ES behind a small ask/tell interface over flat configs.

    Args:
        space: The search space.
        kind: ``"tpe"`` or ``"cmaes"``.
        seed: Sampler seed.
        n_startup_trials: Random trials before TPE models the space (LLM warm-start trials count).
    """

    def __init__(self, space: SearchSpace, *, kind: str = "tpe", seed: int | None = None, n_startup_trials: int = 10):
        if kind not in ("tpe", "cmaes"):
            raise ValueError(f"optimizer must be 'tpe' or 'cmaes', got {kind!r}")
        categorical = [p.name for p in space.params if isinstance(p, CategoricalParam)]
        if kind == "cmaes" and categorical:
            raise ValueError(CMAES_NEEDS_CONTINUOUS.format(names=categorical))
        self.space = space
        self.kind = kind
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self._study = None
        self._prefix = ""  # per study: tickets of an earlier study (e.g. before a restore) never match
        self._told: set[str] = set()
        self._untellable: set[str] = set()  # trial ids already warned about
        self._asked: dict[str, Any] = {}  # ticket -> optuna trial awaiting its result
        self._tickets: dict[str, str] = {}  # Tune trial id -> ticket of the proposal it runs
        self._lock = threading.Lock()  # started() runs in Tune's driver thread, sync() in the searcher's
        self._last_asked: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ optuna plumbing
    def _distributions(self) -> dict[str, Any]:
        d = _import_optuna().distributions
        out = {}
        for p in self.space.params:
            if isinstance(p, CategoricalParam):
                out[p.name] = d.CategoricalDistribution(list(range(len(p.choices))))  # any value type, by index
            elif p.q:
                out[p.name] = d.IntDistribution(*_grid(p), log=getattr(p, "log", False))  # grid index
            elif isinstance(p, IntParam):
                out[p.name] = d.IntDistribution(p.low, p.high, log=p.log)
            else:  # FloatParam, or NormalParam over mean +- 4 sd (values beyond are clamped when told)
                out[p.name] = d.FloatDistribution(p.low, p.high, log=getattr(p, "log", False))
        return out

    def _study_or_new(self):
        if self._study is None:
            optuna = _import_optuna()
            if self.kind == "tpe":
                # Optuna's default TPE (what users compare against), so a difference to plain TPE is the
                # LLM's doing; constant_liar only matters when trials run concurrently.
                sampler = optuna.samplers.TPESampler(
                    seed=self.seed, n_startup_trials=self.n_startup_trials, constant_liar=True
                )
            else:
                sampler = optuna.samplers.CmaEsSampler(seed=self.seed, n_startup_trials=self.n_startup_trials)
            self._study = optuna.create_study(direction="minimize", sampler=sampler)
            self._prefix = uuid.uuid4().hex[:12]
        return self._study

    def _to_params(self, flat: Mapping[str, Any], distributions: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna parameters of a config, clamped into the distributions (``ValueError`` if impossible)."""
        params = {}
        for p in self.space.params:
            value, dist = flat[p.name], distributions[p.name]
            if isinstance(p, CategoricalParam):
                params[p.name] = p.choices.index(value)
                continue
            number = float(value) / p.q if p.q else float(value)
            if isinstance(p, IntParam) or p.q:
                params[p.name] = int(min(max(round(number), dist.low), dist.high))
            else:
                params[p.name] = min(max(number, dist.low), dist.high)
        return params

    def _from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        flat = {}
        for p in self.space.params:
            value = params[p.name]
            if isinstance(p, CategoricalParam):
                flat[p.name] = p.choices[value]
            else:
                flat[p.name] = p.coerce(value * p.q if p.q else value)[0]
        return flat

    @staticmethod
    def _loss(history: History, value: float | None) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        return value if history.mode == "min" else -value

    # ------------------------------------------------------------------ ask / tell
    def started(self, trial_id: str, ticket: str) -> None:
        """Tune runs the proposal with ``ticket`` as trial ``trial_id`` (fast and thread-safe)."""
        with self._lock:
            self._tickets[trial_id] = ticket

    def sync(self, history: History) -> int:
        """Tell the optimizer every finished trial it has not seen; returns how many were told.

        A trial that ran one of this optimizer's proposals finishes the Optuna trial asked for it;
        any other (the LLM's, or a ticket of an earlier study) is added as a new Optuna trial.
        """
        told = 0
        for record in history.finished():
            if record.trial_id in self._told or any(n not in record.config for n in self.space.names):
                continue
            with self._lock:
                ticket = self._tickets.get(record.trial_id)
            try:
                self._tell(history, record, ticket)
            except Exception as exc:  # one odd record must not cost the whole proposal round
                if record.trial_id not in self._untellable:
                    self._untellable.add(record.trial_id)
                    logger.warning(CANNOT_TELL, record.trial_id, record.config, f"{type(exc).__name__}: {exc}")
                continue
            self._told.add(record.trial_id)
            with self._lock:
                self._tickets.pop(record.trial_id, None)
            told += 1
        return told

    def _tell(self, history: History, record: TrialRecord, ticket: str | None) -> None:
        optuna = _import_optuna()
        study = self._study_or_new()
        loss = self._loss(history, record.objective) if record.status == "completed" else None
        state = optuna.trial.TrialState.COMPLETE if loss is not None else optuna.trial.TrialState.FAIL
        asked = self._asked.get(ticket) if ticket is not None else None
        if asked is not None:
            study.tell(asked, loss, state=state)
            del self._asked[ticket]
        else:
            distributions = self._distributions()
            study.add_trial(
                optuna.trial.create_trial(
                    params=self._to_params(record.config, distributions),
                    distributions=distributions,
                    value=loss,
                    state=state,
                )
            )

    def ask(self, n: int) -> list[Proposal]:
        """``n`` proposals from the optimizer, each with the ticket that :meth:`sync` needs to tell it."""
        study = self._study_or_new()
        distributions = self._distributions()
        proposals = []
        for _ in range(n):
            trial = study.ask(distributions)
            ticket = f"{self._prefix}-{trial.number}"
            self._asked[ticket] = trial
            proposals.append(Proposal(self._from_params(trial.params), ProposalSource.OPTIMIZER, ticket))
        self._last_asked = [p.config for p in proposals]
        return proposals

    def discard(self, proposals: Iterable[Proposal]) -> None:
        """Asked proposals that will never run (candidates the LLM did not pick): close them as failed."""
        optuna = _import_optuna()
        for proposal in proposals:
            trial = self._asked.pop(proposal.ticket, None)
            if trial is not None:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)

    @property
    def trials(self) -> list[Any]:
        """The study's Optuna trials (asked and told), for reports and checks; empty before the first ask."""
        return list(self._study.trials) if self._study is not None else []

    @property
    def n_told(self) -> int:
        return len(self._told)

    def focus(self) -> list[str]:
        """Where the optimizer is concentrating: the range of its latest proposals, per parameter."""
        if not self._last_asked:
            return []
        lines = []
        for p in self.space.params:
            values = [c[p.name] for c in self._last_asked]
            if isinstance(p, CategoricalParam):
                lines.append(f"- {p.name}: " + ", ".join(sorted({repr(v) for v in values})))
            else:
                lines.append(f"- {p.name}: {min(values):.4g} .. {max(values):.4g}")
        return lines

    def __getstate__(self) -> dict:
        # The study is rebuilt from the history after unpickling (see sync); asked trials are dropped.
        state = self.__dict__.copy()
        state.update(
            _study=None, _prefix="", _told=set(), _untellable=set(), _asked={}, _tickets={}, _last_asked=[], _lock=None
        )
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
