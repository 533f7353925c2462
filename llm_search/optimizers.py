"""A classical optimizer (Optuna TPE or CMA-ES) driven by ask/tell from the searcher's history.

The hybrid strategy needs an optimizer that (1) proposes configs, (2) learns from EVERY finished
trial, whoever proposed it, and (3) can describe its state to the LLM. Its study is rebuilt from
the history rather than pickled: :meth:`OptunaOptimizer.sync` tells it each finished trial once,
so after a restore the optimizer knows exactly what the history knows.

Example:
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace, FloatParam
    >>> opt = OptunaOptimizer(SearchSpace([FloatParam("x", 0.0, 1.0)]), seed=0)
    >>> h = History("loss", "min"); h.start("a", {"x": 0.3}, "llm"); h.complete("a", {"loss": 0.09})
    >>> opt.sync(h)
    1
    >>> 0.0 <= opt.ask(1)[0]["x"] <= 1.0
    True
"""

from __future__ import annotations

import logging
import math
from typing import Any

from llm_search.backends.base import missing_dependency
from llm_search.history import History
from llm_search.space import CategoricalParam, FloatParam, IntParam, NormalParam, SearchSpace

logger = logging.getLogger(__name__)

CMAES_NEEDS_CONTINUOUS = (
    "optimizer='cmaes' needs a continuous search space (floats/ints), but {names} are categorical: "
    "use optimizer='tpe' for mixed spaces."
)


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise missing_dependency("optuna", "bench", "the hybrid strategy runs Optuna underneath") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


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
        self._told: set[str] = set()
        self._asked: dict[str, Any] = {}  # config key -> optuna trial awaiting its result
        self._last_asked: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ optuna plumbing
    def _distributions(self) -> dict[str, Any]:
        optuna = _import_optuna()
        d = optuna.distributions
        out = {}
        for p in self.space.params:
            if isinstance(p, CategoricalParam):
                out[p.name] = d.CategoricalDistribution(list(range(len(p.choices))))  # any value type, by index
            elif isinstance(p, IntParam):
                step = 1 if p.log else (p.q or 1)
                high = p.low + ((p.high - p.low) // step) * step
                out[p.name] = d.IntDistribution(p.low, high, log=p.log, step=step)
            elif isinstance(p, FloatParam):
                out[p.name] = d.FloatDistribution(p.low, p.high, log=p.log)
            elif isinstance(p, NormalParam):
                out[p.name] = d.FloatDistribution(p.low, p.high)
        return out

    def _study_or_new(self):
        if self._study is None:
            optuna = _import_optuna()
            if self.kind == "tpe":
                # Optuna's default TPE (what users compare against), so a difference to plain TPE is the
                # LLM's doing; constant_liar only matters when trials run concurrently.
                sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                                     constant_liar=True)
            else:
                sampler = optuna.samplers.CmaEsSampler(seed=self.seed, n_startup_trials=self.n_startup_trials)
            self._study = optuna.create_study(direction="minimize", sampler=sampler)
        return self._study

    def _to_params(self, flat: dict[str, Any]) -> dict[str, Any]:
        params = {}
        for p in self.space.params:
            value = flat[p.name]
            params[p.name] = p.choices.index(value) if isinstance(p, CategoricalParam) else value
        return params

    def _from_params(self, params: dict[str, Any]) -> dict[str, Any]:
        flat = {}
        for p in self.space.params:
            value = params[p.name]
            flat[p.name] = p.choices[value] if isinstance(p, CategoricalParam) else p.coerce(value)[0]
        return flat

    @staticmethod
    def _loss(history: History, value: float | None) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        return value if history.mode == "min" else -value

    # ------------------------------------------------------------------ ask / tell
    def sync(self, history: History) -> int:
        """Tell the optimizer every finished trial it has not seen; returns how many were told."""
        optuna = _import_optuna()
        study = self._study_or_new()
        distributions = self._distributions()
        told = 0
        for record in history.finished():
            if record.trial_id in self._told or any(n not in record.config for n in self.space.names):
                continue
            self._told.add(record.trial_id)
            loss = self._loss(history, record.objective) if record.status == "completed" else None
            state = optuna.trial.TrialState.COMPLETE if loss is not None else optuna.trial.TrialState.FAIL
            asked = self._asked.pop(self.space.key(record.config), None)
            if asked is not None:
                study.tell(asked, loss if loss is not None else None, state=state)
            else:
                study.add_trial(optuna.trial.create_trial(
                    params=self._to_params(record.config), distributions=distributions,
                    value=loss, state=state,
                ))
            told += 1
        return told

    def ask(self, n: int) -> list[dict[str, Any]]:
        """``n`` configs from the optimizer; they are told when a trial with that config finishes."""
        study = self._study_or_new()
        distributions = self._distributions()
        configs = []
        for _ in range(n):
            trial = study.ask(distributions)
            flat = self._from_params(trial.params)
            self._asked[self.space.key(flat)] = trial
            configs.append(flat)
        self._last_asked = configs
        return configs

    def discard(self, configs: list[dict[str, Any]]) -> None:
        """Asked configs that will never run (candidates the LLM did not pick): close them as failed."""
        optuna = _import_optuna()
        for flat in configs:
            trial = self._asked.pop(self.space.key(flat), None)
            if trial is not None:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)

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
        state.update(_study=None, _told=set(), _asked={}, _last_asked=[])
        return state
