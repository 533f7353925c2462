"""Per-parameter evidence: for each parameter, which of its values (or ranges) scored well and which badly.

A small model reads a table of twenty raw trials poorly: it anchors on the first values it sees and
repeats them. One line per parameter, its values ranked by the best result each has reached, puts
the conclusion in front of it instead: the first value listed is the one to refine around, the last
ones are where results were bad or trials failed, and the untried values are named as such.
Categorical parameters (and Tune's grids) are summarized per value; numeric ones per interval of
their range (equal steps on their own scale, log or linear).

Example:
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace
    >>> from ray import tune
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-0), "opt": tune.choice(["sgd", "adam"])})
    >>> history = History("acc", "max")
    >>> for i, (lr, opt, acc) in enumerate([(1e-3, "adam", 0.9), (0.5, "sgd", 0.2), (2e-3, "adam", 0.8)]):
    ...     history.start(str(i), {"lr": lr, "opt": opt}, "llm")
    ...     history.complete(str(i), {"acc": acc})
    >>> print("\\n".join(parameter_evidence(space, history)))
    - lr: 0.001..0.01 -> best 0.9 (2 trials); 0.1..1 -> 0.2 (1); untried 0.0001..0.001, 0.01..0.1
    - opt: "adam" -> best 0.9 (2 trials); "sgd" -> 0.2 (1)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from llm_search.history import History, TrialRecord
from llm_search.numbers import real_number
from llm_search.params import CategoricalParam, Param
from llm_search.space import SearchSpace

NUMERIC_BINS = 4  # intervals per numeric parameter: coarse enough that each holds several trials
MAX_CELLS = 4  # tried values listed per parameter (the best first)
MAX_UNTRIED = 4  # untried values named per parameter


@dataclass
class _Cell:
    """The trials whose value of one parameter falls on one value or interval."""

    label: str
    order: int  # position in the parameter's own order (ties keep it)
    records: list[TrialRecord] = field(default_factory=list)


def _short(value: float) -> str:
    return f"{value:.3g}" if value != 0 else "0"


def _numeric_cells(param: Param) -> list[_Cell]:
    low, high = float(param.low), float(param.high)
    log = bool(getattr(param, "log", False)) and low > 0
    ends = [
        math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / NUMERIC_BINS)
        if log
        else low + i * (high - low) / NUMERIC_BINS
        for i in range(NUMERIC_BINS + 1)
    ]
    return [_Cell(f"{_short(ends[i])}..{_short(ends[i + 1])}", i) for i in range(NUMERIC_BINS)]


def _numeric_index(param: Param, value: float) -> int:
    low, high = float(param.low), float(param.high)
    if getattr(param, "log", False) and low > 0 and value > 0:
        position = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    else:
        position = (value - low) / (high - low) if high > low else 0.0
    # A value on an interval's lower end belongs to it, whatever the rounding of the logarithms.
    return min(NUMERIC_BINS - 1, max(0, int(position * NUMERIC_BINS + 1e-9)))


def _cells(param: Param, records: Sequence[TrialRecord]) -> list[_Cell]:
    if isinstance(param, CategoricalParam):
        cells = [_Cell(json.dumps(label), i) for i, label in enumerate(param.labels)]
        keys = [json.dumps(param.key(c), sort_keys=True) for c in param.choices]
        for record in records:
            key = json.dumps(param.key(record.config[param.name]), sort_keys=True)
            if key in keys:
                cells[keys.index(key)].records.append(record)
        return cells
    cells = _numeric_cells(param)
    for record in records:
        value = real_number(record.config[param.name])
        if value is not None and math.isfinite(value):
            cells[_numeric_index(param, value)].records.append(record)
    return cells


def _best_score(cell: _Cell, history: History) -> float:
    """The cell's best score (lower is better); a failed trial's last report does not count."""
    return min((history.score(r) for r in cell.records if not history.is_failure(r)), default=math.inf)


def _describe_cell(cell: _Cell, history: History, first: bool) -> str:
    """``value -> best 0.93 (4 trials, 1 failed)`` for the first cell, ``value -> 0.8 (2)`` after it."""
    failed = sum(history.is_failure(r) for r in cell.records)
    score = _best_score(cell, history)
    if math.isfinite(score):
        best = f"{score if history.mode == 'min' else -score:.4g}"
        result = f"best {best}" if first else best
    else:
        result = "no result"
    n = len(cell.records)
    count = f"{n} trial{'s' if n != 1 else ''}" if first else f"{n}"
    return f"{cell.label} -> {result} ({count}{f', {failed} failed' if failed else ''})"


def parameter_evidence(space: SearchSpace, history: History) -> list[str]:
    """One line per parameter: its tried values best first (best result, trials), then the untried ones.

    Uses every finished trial, including those the prompt's trial list no longer shows.
    """
    finished = [r for r in history.finished() if r.config]
    lines = []
    for param in space.params:
        records = [r for r in finished if param.name in r.config]
        if not records:
            continue
        cells = _cells(param, records)
        tried = sorted((c for c in cells if c.records), key=lambda c: (_best_score(c, history), c.order))
        untried = [c.label for c in cells if not c.records]
        shown = [_describe_cell(c, history, first=i == 0) for i, c in enumerate(tried[:MAX_CELLS])]
        if len(tried) > MAX_CELLS:
            shown.append(f"{len(tried) - MAX_CELLS} more")
        text = "; ".join(shown)
        if untried:
            more = f" and {len(untried) - MAX_UNTRIED} more" if len(untried) > MAX_UNTRIED else ""
            text += f"; untried {', '.join(untried[:MAX_UNTRIED])}{more}"
        lines.append(f"- {param.name}: {text}")
    return lines
