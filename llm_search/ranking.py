"""The ranking strategy: the LLM picks among model-free candidates instead of writing configurations.

Each round, ``candidates.py`` makes untried candidates (neighbours of the best trials and random
points, shuffled), and the LLM, shown the whole history prompt, answers with the numbers of the
ones most likely to improve the objective (``choices.py``: a few tokens under a grammar, so a
call costs mostly its prompt). What the LLM does not deliver is filled from the same pool at random
and counted as a fallback. ``picker="random"`` makes the same candidates and picks uniformly: the
control that says how much the LLM's judgement adds to the candidate generator.

Example:
    >>> import numpy as np
    >>> from ray import tune
    >>> from llm_search.backends.scripted import ScriptedBackend
    >>> from llm_search.history import History
    >>> from llm_search.proposer import LLMProposer
    >>> from llm_search.space import SearchSpace
    >>> space = SearchSpace.from_tune({"x": tune.uniform(0, 1)})
    >>> backend = ScriptedBackend(['{"choices": ["D"]}'])
    >>> ranker = RankingProposer(LLMProposer(backend), RankConfig(candidates=5))
    >>> [p.source.value for p in ranker.propose(space, History("loss", "min"), 1, seed=0)]
    ['llm']
    >>> "Pick the 1 candidate most likely" in backend.history[0]["messages"][1]["content"]
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from llm_search.candidates import make_candidates
from llm_search.history import History
from llm_search.proposal import Proposal, ProposalSource, Proposer, ProposerStats
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

PICKERS = ("llm", "random")


@dataclass(frozen=True)
class RankConfig:
    """Settings of the ranking strategy (``LLMSearcher(strategy="rank", rank=RankConfig(...))``).

    Args:
        candidates: Candidates shown per configuration wanted (at most ``max_candidates`` in all).
        local_share: Share of the candidates that are neighbours of the best trials (the rest random).
        picker: ``"llm"``, or ``"random"``: the model-free control with the same candidates.
        max_candidates: Most candidates in one prompt.

    Example:
        >>> RankConfig(picker="oracle")
        Traceback (most recent call last):
        ...
        ValueError: picker must be one of ('llm', 'random'), got 'oracle'
    """

    candidates: int = 8
    local_share: float = 0.5
    picker: str = "llm"
    max_candidates: int = 16

    def __post_init__(self) -> None:
        if self.picker not in PICKERS:
            raise ValueError(f"picker must be one of {PICKERS}, got {self.picker!r}")
        if self.candidates < 2:
            raise ValueError(f"candidates must be at least 2, got {self.candidates}")
        if not 0.0 <= self.local_share <= 1.0:
            raise ValueError(f"local_share must be in [0, 1], got {self.local_share}")


class RankingProposer(Proposer):
    """Proposals the LLM picked from model-free candidates (see the module docstring)."""

    def __init__(self, llm: LLMProposer, config: RankConfig = RankConfig()):
        self.llm = llm
        self.config = config

    @property
    def stats(self) -> ProposerStats:  # type: ignore[override]
        return self.llm.stats

    @property
    def disabled_reason(self) -> str | None:  # type: ignore[override]
        return self.llm.disabled_reason

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
        rng = np.random.default_rng(seed)
        taken = set(seen or ()) | {space.key(c) for c in pending}
        size = min(self.config.max_candidates, max(self.config.candidates * n, n + 1))
        pool = make_candidates(space, history, size, rng, seen=taken, local_share=self.config.local_share)
        picked: list[int] = []
        if self.config.picker == "llm" and pool:
            k, choice_seed = min(n, len(pool)), int(rng.integers(2**31 - 1))
            picked = self.llm.choose(space, history, pool, k, seed=choice_seed, notes=notes)
        proposals = [Proposal(pool[i], ProposalSource.LLM) for i in picked]
        rest = [i for i in rng.permutation(len(pool)) if int(i) not in picked]
        proposals += [Proposal(pool[int(i)], ProposalSource.RANDOM) for i in rest[: n - len(proposals)]]
        while len(proposals) < n:  # a space with fewer untried configs than wanted: repeats are Tune's to run
            proposals.append(Proposal(space.sample(rng), ProposalSource.RANDOM))
        return proposals

    def get_state(self) -> dict[str, Any]:
        return {"llm": self.llm.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.llm.set_state(state["llm"])
