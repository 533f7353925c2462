"""A space-filling start: the first trials spread evenly over the space, then the strategy proposes.

A small model's first guesses are worse than random draws (the embedded 0.5B model wrote
``skip_connect`` on 62% of NAS-Bench-201 edges from its first trial on), and what it later reads
in the prompt's per-parameter evidence is only what it tried. A Latin hypercube start gives every
parameter's range (every choice of a categorical one, when there are at least as many trials as
choices) a result before the LLM's first proposal.

Example:
    >>> import numpy as np
    >>> from ray import tune
    >>> from llm_search.space import SearchSpace
    >>> space = SearchSpace.from_tune({"op": tune.choice(["a", "b", "c"]), "lr": tune.loguniform(1e-4, 1e-1)})
    >>> design = latin_hypercube(space, 6, np.random.default_rng(0))
    >>> sorted(c["op"] for c in design)  # each choice twice
    ['a', 'a', 'b', 'b', 'c', 'c']
    >>> sorted(int(np.log10(c["lr"])) for c in design)  # two draws in each of the 3 decades
    [-3, -3, -2, -2, -1, -1]
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from llm_search.proposal import Proposal, ProposalSource, Proposer, WrappingProposer

if TYPE_CHECKING:
    from llm_search.history import History
    from llm_search.space import SearchSpace

_EDGE = 1e-9  # keeps a stratified draw inside (0, 1), where the normal's inverse CDF is finite


class _StratifiedDraw:
    """Stands in for a NumPy generator in ``Param.sample``, which draws exactly once: the draw is the
    given quantile ``u`` of the requested distribution, so each parameter keeps its own scale
    (log, steps, integer ends) without a second implementation of it."""

    def __init__(self, u: float):
        self.u = min(max(u, _EDGE), 1 - _EDGE)

    def uniform(self, low: float, high: float) -> float:
        return low + self.u * (high - low)

    def integers(self, low: int, high: int | None = None) -> int:
        low, high = (0, low) if high is None else (low, high)
        return min(low + int(self.u * (high - low)), high - 1)

    def normal(self, mean: float, sd: float) -> float:
        return statistics.NormalDist(mean, sd).inv_cdf(self.u)


def latin_hypercube(space: SearchSpace, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` flat configurations whose values of each parameter fall one in each of ``n`` equal-probability
    strata of that parameter's sampling distribution (the strata paired at random across parameters)."""
    columns = {p.name: (rng.permutation(n) + rng.uniform(size=n)) / n for p in space.params}
    return [{p.name: p.sample(_StratifiedDraw(float(columns[p.name][i]))) for p in space.params} for i in range(n)]


class InitialDesign(WrappingProposer):
    """Hands out a Latin hypercube of ``n_trials`` configurations until that many trials have started
    (points_to_evaluate and restored trials count), then defers to ``inner``.

    The design is drawn from ``seed`` alone, so a restored experiment continues the same design; a
    design point already tried or queued is skipped. Its trials have the source ``design``.

    Example:
        >>> from ray import tune
        >>> from llm_search.backends import ScriptedBackend
        >>> from llm_search.history import History
        >>> from llm_search.proposer import LLMProposer
        >>> from llm_search.space import SearchSpace
        >>> space = SearchSpace.from_tune({"x": tune.uniform(0, 1)})
        >>> proposer = InitialDesign(LLMProposer(ScriptedBackend(['{"configs": [{"x": 0.5}]}'])), 2, seed=0)
        >>> [str(p.source) for p in proposer.propose(space, History("y", "min"), 3, seed=1)]
        ['design', 'design', 'llm']
    """

    def __init__(self, inner: Proposer, n_trials: int, *, seed: int | None = None):
        if n_trials < 1:
            raise ValueError(f"initial_design must be a positive number of trials, got {n_trials}")
        super().__init__(inner)
        self.n_trials = n_trials
        self.seed = int(np.random.default_rng(seed).integers(2**31 - 1))

    def propose(
        self,
        space: SearchSpace,
        history: History,
        n: int,
        *,
        seed: int,
        pending: Iterable[Mapping[str, Any]] = (),
        seen: set[str] | None = None,
        notes: Sequence[str] = (),
    ) -> list[Proposal]:
        pending = list(pending)
        taken = set(seen or ())
        proposals: list[Proposal] = []
        if len(history.records) < self.n_trials:  # past the design, skip the work of counting it
            # By identity: the searcher's pending list holds its running trials, which the history holds too.
            started = {space.key(r.config) for r in history.records.values()} | {space.key(c) for c in pending}
            wanted = min(n, self.n_trials - len(started))
            design = latin_hypercube(space, self.n_trials, np.random.default_rng(self.seed)) if wanted > 0 else []
            for config in design:
                key = space.key(config)
                if len(proposals) < wanted and key not in taken:
                    taken.add(key)
                    proposals.append(Proposal(config, ProposalSource.DESIGN))
        if len(proposals) < n:
            pending += [p.config for p in proposals]
            proposals += self.inner.propose(
                space, history, n - len(proposals), seed=seed, pending=pending, seen=taken, notes=notes
            )
        return proposals

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "seed": self.seed}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.seed = state["seed"]
