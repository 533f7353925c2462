"""How well the LLM's trials did against the optimizer's, so a hybrid gives the LLM the share it earns.

A trial *succeeds* when its objective beats the median of the trials that finished before it (a failed
or NaN trial never succeeds). Each proposer's success rate is smoothed towards 1/2 by a prior of
``prior`` pseudo-trials, and the LLM's share is its configured share scaled by the squared ratio of the
two rates, within ``bounds``: an LLM that does as well as the optimizer keeps its share, one that does
better earns more (up to the upper bound), one that does worse is cut back, never below the lower
bound, so it keeps being measured. Squared because a proposer that is right less often should lose
budget faster than in proportion. Why and what it changed: docs/benchmarks.md, "The LLM earns its share".

Example:
    >>> from llm_search.history import History
    >>> h = History("loss", "min")
    >>> for i, (source, loss) in enumerate([("optimizer", 5.0), ("optimizer", 4.0), ("llm", 9.0),
    ...                                     ("optimizer", 1.0), ("llm", 8.0), ("optimizer", 2.0)]):
    ...     h.start(str(i), {"x": i}, source)
    ...     h.complete(str(i), {"loss": loss})
    >>> credit = proposer_credit(h)
    >>> (credit.llm_successes, credit.llm_trials, credit.optimizer_successes, credit.optimizer_trials)
    (0, 2, 3, 3)
    >>> round(earned_share(credit, 0.3), 3)
    0.065
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import dataclass

from llm_search.history import History

DEFAULT_BOUNDS = (0.05, 0.6)
DEFAULT_PRIOR = 4.0  # pseudo-trials at a 1/2 success rate: one bad LLM trial must not halve its share


@dataclass(frozen=True)
class ProposerCredit:
    """Success counts of the LLM's and the optimizer's finished trials (see the module doc)."""

    llm_successes: int = 0
    llm_trials: int = 0
    optimizer_successes: int = 0
    optimizer_trials: int = 0

    def rates(self, prior: float = DEFAULT_PRIOR) -> tuple[float, float]:
        """Smoothed success rates (LLM, optimizer)."""
        half = prior / 2
        return (
            (self.llm_successes + half) / (self.llm_trials + prior),
            (self.optimizer_successes + half) / (self.optimizer_trials + prior),
        )


def proposer_credit(
    history: History, share_source: str | Collection[str] = "llm", versus: str = "optimizer"
) -> ProposerCredit:
    """Count, in finishing order, the trials of each proposer that beat the median of those before them.

    The first finished trial has nothing to beat and is not counted; trials from other sources (random
    fallbacks, given points, added results) count only as earlier results. ``share_source`` is the
    source (or sources) of the trials counted on the LLM's side (``"neighbours"`` in the hybrid's
    model-free control, both in its contest), ``versus`` the source on the optimizer's side
    (``"neighbours"`` when the contest weighs the LLM against the neighbour moves).
    """
    ours = {share_source} if isinstance(share_source, str) else set(share_source)
    earlier: list[float] = []  # kept sorted: the median is read in O(1) at every step
    share, other = [0, 0], [0, 0]
    for record in history.finished():
        score = history.score(record)  # lower is better; failures are +inf
        side = share if record.source in ours else other if record.source == versus else None
        if earlier and side is not None:
            side[0] += score < _median(earlier)
            side[1] += 1
        bisect.insort(earlier, score)
    return ProposerCredit(share[0], share[1], other[0], other[1])


def _median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def earned_share(
    credit: ProposerCredit, share: float, *, bounds: tuple[float, float] = DEFAULT_BOUNDS, prior: float = DEFAULT_PRIOR
) -> float:
    """``share`` scaled by the squared ratio of the LLM's and the optimizer's success rates, within ``bounds``
    (widened to include ``share`` itself, so a configured share outside them holds until there is evidence).

    Example:
        >>> earned_share(ProposerCredit(), 0.3)  # no evidence yet: the configured share
        0.3
        >>> earned_share(ProposerCredit(8, 10, 2, 10), 0.3)  # the LLM does better: it earns more
        0.6
        >>> earned_share(ProposerCredit(), 1.0)
        1.0
    """
    llm_rate, optimizer_rate = credit.rates(prior)
    low, high = min(bounds[0], share), max(bounds[1], share)
    return min(high, max(low, share * (llm_rate / optimizer_rate) ** 2))
