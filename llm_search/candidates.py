"""Model-free candidate configurations for the LLM to rank: neighbours of the best trials and random points.

A small model asked to write a configuration repeats one it likes (the 0.5B Qwen coder model
answered with an already-tried config in 11 of 26 calls of two screening runs); choosing among
valid, untried candidates, it cannot repeat itself. The candidates mix local moves
around the best trials (one or two parameters changed: the next value of an ordered grid, a
category swapped, a number moved by a fraction of its range on its own scale) with random points
of the whole space, in a shuffled order so that a position in the list means nothing.

Example:
    >>> import numpy as np
    >>> from ray import tune
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "depth": tune.choice([1, 2, 3, 4])})
    >>> history = History("loss", "min")
    >>> history.start("a", {"lr": 1e-3, "depth": 2}, "llm"); history.complete("a", {"loss": 0.5})
    >>> pool = make_candidates(space, history, 6, np.random.default_rng(0), seen={space.key({"lr": 1e-3, "depth": 2})})
    >>> len(pool), len({space.key(c) for c in pool}), all(space.validate(c)[0] is not None for c in pool)
    (6, 6, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from llm_search.history import History
from llm_search.params import CategoricalParam, Param, Rejected
from llm_search.space import SearchSpace

TOP_TRIALS = 3  # local moves start from these best trials
TOP_WEIGHTS = (0.5, 0.3, 0.2)  # how often each of them is the start (the best most often)
STEP_FRACTION = 0.15  # a numeric move: normal with this sd, as a fraction of the range on its scale
MAX_ATTEMPTS_PER_CANDIDATE = 40


def ordered_numbers(param: CategoricalParam) -> bool:
    return all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in param.choices)


def _move(param: Param, value: Any, rng: np.random.Generator) -> Any:
    """A nearby value of one parameter."""
    if isinstance(param, CategoricalParam):
        choices = list(param.choices)
        if value in choices and ordered_numbers(param) and len(choices) > 2:
            order = sorted(range(len(choices)), key=lambda i: choices[i])
            position = order.index(choices.index(value))
            step = int(rng.choice([-2, -1, 1, 2], p=[0.15, 0.35, 0.35, 0.15]))
            return choices[order[min(len(order) - 1, max(0, position + step))]]
        others = [c for c in choices if c != value] or choices
        return others[int(rng.integers(len(others)))]
    low, high = float(param.low), float(param.high)
    log = bool(getattr(param, "log", False)) and low > 0 and value > 0
    if log:
        moved = math.exp(math.log(value) + rng.normal(0, STEP_FRACTION * (math.log(high) - math.log(low))))
    else:
        moved = float(value) + rng.normal(0, STEP_FRACTION * (high - low))
    try:
        return param.coerce(moved)[0]  # clipped into range, snapped to its step
    except Rejected:
        return value


def neighbour(space: SearchSpace, config: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """``config`` with one parameter moved (two, a third of the time)."""
    moved = dict(config)
    count = min(len(space), 2 if rng.random() < 1 / 3 else 1)
    for index in rng.choice(len(space), size=count, replace=False):
        param = space.params[int(index)]
        if param.name in moved:
            moved[param.name] = _move(param, moved[param.name], rng)
    return moved


def make_candidates(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    *,
    seen: set[str] = frozenset(),
    local_share: float = 0.5,
) -> list[dict[str, Any]]:
    """Up to ``n`` distinct, untried configurations: ``local_share`` of them near the best trials.

    Before any trial has a result, all are random. Fewer than ``n`` come back only when the space
    has fewer untried configurations than that.
    """
    best = history.best(TOP_TRIALS)
    starts = [r.config for r in best if all(name in r.config for name in space.names)]
    taken = set(seen)
    pool: list[dict[str, Any]] = []

    def add(config: dict[str, Any]) -> None:
        flat, problems = space.validate(config)
        if flat is None or any(p.fatal for p in problems):
            return
        key = space.key(flat)
        if key not in taken:
            taken.add(key)
            pool.append(flat)

    n_local = round(n * local_share) if starts else 0
    weights = np.array(TOP_WEIGHTS[: len(starts)])
    for _ in range(n_local * MAX_ATTEMPTS_PER_CANDIDATE):
        if len(pool) >= n_local:
            break
        start = starts[int(rng.choice(len(starts), p=weights / weights.sum()))]
        add(neighbour(space, start, rng))
    for _ in range(n * MAX_ATTEMPTS_PER_CANDIDATE):
        if len(pool) >= n:
            break
        add(space.sample(rng))
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order]
