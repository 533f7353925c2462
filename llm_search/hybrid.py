"""The hybrid strategy: a classical optimizer drives; the LLM proposes a share of the trials.

Controlled studies found pure-LLM search losing to TPE/CMA-ES while a hybrid wins: the optimizer
proposes most trials, the LLM a share (``llm_share``, starting at 0.6), seeing the optimizer's state
(best trials, where it is sampling now). With ``adaptive_share`` (the default) that share is earned:
it follows how often the LLM's trials beat the running median compared with the optimizer's
(:mod:`llm_search.credit`), so a weak model costs little and a strong one gets more of the budget.
The LLM joins once ``llm_after`` trials have finished, so it has results to refine: a small model's
cold guesses (no results yet) drift to the ends of the ranges and are worse than the optimizer's
random startup samples (in a contest an embedded model joins after 15 results, its catalog's
``contest_llm_after``: the 0.5B model's first contest trials were worse than random ones). The LLM
either writes configs (``mode="generate"``) or picks the most promising of the optimizer's candidates
(``mode="judge"``: only its own picks count as its trials; candidates filling in for picks it did not
make are the optimizer's). ``share_by="neighbours"`` is the model-free control: the same share, earned
the same way, goes to untried neighbours of the best trials drawn at random (one or two parameters
moved, as :mod:`llm_search.candidates` makes them), which is what a small model mostly writes; an LLM
that does not beat it adds nothing.
``share_by="contest"`` (the default) puts the two side by side in one run: the share, earned against
the optimizer by the better of the two records, is split between the LLM and the neighbour moves by
the LLM's record against the moves', so a model that writes worse than a random move next to the best
loses its part to the moves, and not the moves' share to the optimizer (measured with the 0.5B
embedded model: docs/benchmarks.md, "The Qwen suites"). Its first
proposals can warm-start the optimizer (``warm_start``: they count as the optimizer's startup trials), as Zhang
et al. found helpful. Every finished trial is told to the optimizer, whoever proposed it.

Example:
    >>> from llm_search.backends import ScriptedBackend
    >>> from llm_search.history import History
    >>> from llm_search.proposer import LLMProposer
    >>> from llm_search.space import SearchSpace, FloatParam
    >>> space = SearchSpace([FloatParam("x", 0.0, 1.0)])
    >>> llm = LLMProposer(ScriptedBackend(['{"configs": [{"x": 0.5}]}']))
    >>> config = HybridConfig(llm_share=0.5, llm_after=0, share_by="llm")  # by default it waits for 3 results
    >>> hybrid = HybridProposer(llm, config, seed=0)
    >>> sorted(str(p.source) for p in hybrid.propose(space, History("y", "min"), 2, seed=0))
    ['llm', 'optimizer']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from llm_search.candidates import make_candidates
from llm_search.credit import DEFAULT_BOUNDS, ProposerCredit, earned_share, proposer_credit
from llm_search.history import History
from llm_search.optimizers import OptunaOptimizer
from llm_search.proposal import Proposal, ProposalSource, Proposer, ProposerStats
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

logger = logging.getLogger(__name__)

MODES = ("generate", "judge")
SHARE_BY = ("llm", "neighbours", "contest")
DEFAULT_LLM_AFTER = 3  # results before the LLM joins: a small model's cold guesses were worse than random ones
CONTEST_BOUNDS = (0.1, 0.9)  # the LLM's part of the share in a contest: never all, never none (still measured)


@dataclass(frozen=True)
class HybridConfig:
    """Settings of the hybrid strategy (``LLMSearcher(strategy="hybrid", hybrid=HybridConfig(...))``).

    Args:
        optimizer: ``"tpe"`` (any space) or ``"cmaes"`` (continuous spaces).
        llm_share: Fraction of proposals that go to the share after the warm start (the LLM's; in a
            contest, the LLM's and the neighbour moves'; the starting share when ``adaptive_share``).
            The defaults (0.6, adaptive; ``n_startup_trials=5`` after the searcher's 5-trial start)
            are the settings whose structure, with no model, led TPE at 10 trials on held-out seeds
            (docs/benchmarks.md, "The hybrid's controls, without a model").
        adaptive_share: Scale the share by the LLM's measured success against the optimizer's,
            within ``share_bounds`` (see :mod:`llm_search.credit`); ``False`` keeps ``llm_share`` fixed.
        share_bounds: (lowest, highest) adaptive share.
        mode: ``"generate"`` (LLM writes configs) or ``"judge"`` (LLM picks among candidates).
        share_by: ``"contest"`` (default): the share goes to the LLM and to random untried neighbours
            of the best trials, the LLM's part (from one half, within ``CONTEST_BOUNDS``) scaled by its
            record against the neighbour moves, as the share is by the better of the two records
            against the optimizer;
            ``"llm"``: all of it to the LLM; ``"neighbours"``: the model-free control, all of it to the
            neighbour moves (no LLM call; ``mode`` is not used).
        warm_start: Number of first proposals that come from the LLM; they become the optimizer's
            startup trials (``n_startup_trials`` is set to ``max(warm_start, n_startup_trials)``).
        llm_after: Finished trials needed before the LLM proposes (its share counts from then on; in a
            contest the neighbour moves hold the whole share until then, from the first result);
            not applied to the warm start, which is the LLM's cold start by definition. ``None``
            (default): 3, but in a contest the model's own setting where it has one (the embedded
            models: 15, ``EmbeddedModel.contest_llm_after``).
        candidates_per_pick: In judge mode, candidates shown per config to pick.
        n_startup_trials: Startup trials of the optimizer when there is no warm start (the searcher's
            space-filling start counts: TPE models from the 6th trial by default).

    Example:
        >>> HybridConfig(llm_share=0.5, mode="judge").startup_trials
        5
        >>> HybridConfig(mode="vote")
        Traceback (most recent call last):
        ...
        ValueError: hybrid mode must be one of ('generate', 'judge'), got 'vote'
    """

    optimizer: str = "tpe"
    llm_share: float = 0.6
    adaptive_share: bool = True
    share_bounds: tuple[float, float] = DEFAULT_BOUNDS
    mode: str = "generate"
    share_by: str = "contest"
    warm_start: int = 0
    llm_after: int | None = None
    candidates_per_pick: int = 4
    n_startup_trials: int = 5

    def __post_init__(self) -> None:
        if self.optimizer not in ("tpe", "cmaes"):
            raise ValueError(f"optimizer must be 'tpe' or 'cmaes', got {self.optimizer!r}")
        if not 0.0 <= self.llm_share <= 1.0:
            raise ValueError(f"llm_share must be in [0, 1], got {self.llm_share}")
        low, high = self.share_bounds
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"share_bounds must be (low, high) with 0 <= low <= high <= 1, got {self.share_bounds}")
        if self.mode not in MODES:
            raise ValueError(f"hybrid mode must be one of {MODES}, got {self.mode!r}")
        if self.share_by not in SHARE_BY:
            raise ValueError(f"share_by must be one of {SHARE_BY}, got {self.share_by!r}")
        if self.warm_start < 0 or self.candidates_per_pick < 2 or (self.llm_after or 0) < 0:
            raise ValueError("warm_start and llm_after must be >= 0 and candidates_per_pick >= 2")

    @property
    def startup_trials(self) -> int:
        """The optimizer's startup trials: the LLM's warm start, if any, counts as them."""
        return max(self.warm_start, self.n_startup_trials) if self.warm_start else self.n_startup_trials


class HybridProposer(Proposer):
    """Optimizer + LLM proposals behind the :class:`~llm_search.proposal.Proposer` interface.

    Args:
        llm: The LLM proposer (its backend, prompt limits, call budget and log).
        config: The hybrid's settings (:class:`HybridConfig`).
        seed: Optimizer seed.
    """

    def __init__(self, llm: LLMProposer, config: HybridConfig = HybridConfig(), *, seed: int | None = None):
        self.llm = llm
        self.config = config
        self.seed = seed
        self.current_share = self._logged_share = config.llm_share
        self.proposed_by_optimizer = 0
        self._optimizer: OptunaOptimizer | None = None
        self._share_credit = 0.0
        self._contest_credit = 0.0  # the LLM's fractional part of the share carried between rounds
        self._contest_fraction = self._logged_fraction = 0.5  # the LLM's part of the share in a contest
        self._proposed = 0

    @property
    def stats(self) -> ProposerStats:
        return self.llm.stats

    @property
    def disabled_reason(self) -> str | None:
        return self.llm.disabled_reason

    def report(self) -> dict[str, Any]:
        """The shares of new trials now: the LLM's and the neighbour moves' (the rest is the optimizer's)."""
        part = {"llm": 1.0, "neighbours": 0.0}.get(self.config.share_by, self._contest_fraction)
        return {
            "proposed_by_optimizer": self.proposed_by_optimizer,
            "llm_share": self.current_share * part,
            "neighbours_share": self.current_share * (1.0 - part),
        }

    def get_state(self) -> dict[str, Any]:
        return {
            "llm": self.llm.get_state(),
            "current_share": self.current_share,
            "logged_share": self._logged_share,
            "proposed_by_optimizer": self.proposed_by_optimizer,
            "share_credit": self._share_credit,
            "contest_credit": self._contest_credit,
            "contest_fraction": self._contest_fraction,
            "proposed": self._proposed,
            "share_by": self.config.share_by,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        if "llm" not in state:  # saved before the hybrid kept state of its own: the LLM's counters only
            self.llm.set_state(state)
            return
        self.llm.set_state(state["llm"])
        self.current_share, self._logged_share = state["current_share"], state["logged_share"]
        self.proposed_by_optimizer = state["proposed_by_optimizer"]
        self._share_credit, self._proposed = state["share_credit"], state["proposed"]
        self._contest_credit = state.get("contest_credit", 0.0)  # saved before the contest existed: 0
        self._contest_fraction = self._logged_fraction = state.get("contest_fraction", 0.5)
        saved = state.get("share_by", "llm")  # saved before it was recorded: "llm", the default then
        if saved != self.config.share_by:
            logger.warning(
                "This search was saved with HybridConfig(share_by=%r) and continues with share_by=%r; "
                "pass hybrid={'share_by': %r} to keep the saved one",
                saved,
                self.config.share_by,
                saved,
            )

    def on_trial_start(self, trial_id: str, proposal: Proposal) -> None:
        optimizer = self._optimizer
        if proposal.ticket is not None and optimizer is not None:  # no optimizer yet: an old ticket, unknown
            optimizer.started(trial_id, proposal.ticket)

    def on_discard(self, proposal: Proposal) -> None:
        if proposal.ticket is not None and self._optimizer is not None:
            self._optimizer.discard([proposal])

    def optimizer(self, space: SearchSpace) -> OptunaOptimizer:
        """The optimizer of ``space``; a new one when the space changed (a network written for the
        architecture parameter is a new choice): Optuna's categoricals cannot grow, so the new study
        is told every finished trial again at its next sync, and asked-but-unfinished trials join it
        as the others' do, when they finish."""
        if self._optimizer is not None and self._optimizer.space.params != space.params:
            logger.info("The search space changed (%s); the optimizer restarts from all finished trials", space.names)
            self._optimizer = None
        if self._optimizer is None:
            self._optimizer = OptunaOptimizer(
                space, kind=self.config.optimizer, seed=self.seed, n_startup_trials=self.config.startup_trials
            )
        return self._optimizer

    def _update_share(self, history: History) -> None:
        if not self.config.adaptive_share:
            return
        # In a contest each contestant's record earns the share against the optimizer's and the better one
        # holds it: a model that writes worse than the moves loses its part of the share, not the moves'.
        earned = []
        for source in self._share_sources:
            credit = proposer_credit(history, source)
            earned.append(
                (earned_share(credit, self.config.llm_share, bounds=self.config.share_bounds), source, credit)
            )
        # A record with no trials yet (the LLM before it joins) would hold the share on its prior alone.
        measured = [e for e in earned if e[2].llm_trials] or earned
        share, source, credit = max(measured, key=lambda e: e[0])
        if abs(share - self._logged_share) >= 0.1:  # a visible change, not every step of the estimate
            self._logged_share = share
            what = {"llm": "LLM share of new trials", "neighbours": "Neighbours share of new trials"}[source]
            if self.config.share_by == "contest":
                record = "the LLM's" if source == "llm" else "the neighbour moves'"
                what = f"LLM and neighbours share of new trials (earned by {record} record)"
            _log_change(what, share, credit, "the optimizer's")
        self.current_share = share

    def _llm_count(self, n: int, history: History) -> int:
        if self._proposed < self.config.warm_start:
            return min(n, self.config.warm_start - self._proposed)
        # In a contest the neighbour moves take the whole share until the LLM joins (they need one result
        # to move from); elsewhere the share waits for the LLM.
        contest = self.config.share_by == "contest"
        if len(history.finished()) < (min(self.llm_after, 1) if contest else self.llm_after):
            return 0
        self._update_share(history)
        count, self._share_credit = _whole_part(n, self.current_share, self._share_credit)
        return count

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
        optimizer = self.optimizer(space)
        optimizer.sync(history)
        pending = list(pending)  # read twice in a contest: by the LLM and by the neighbour moves
        share_by = self.config.share_by
        warming = self._proposed < self.config.warm_start  # the warm start is the LLM's, in a contest too
        n_share = self._llm_count(n, history) if share_by != "llm" or self.llm.available else 0
        if share_by == "contest" and not warming:
            n_llm = self._contest_part(n_share, history)
        elif share_by == "neighbours":
            n_llm = 0
        else:
            n_llm = n_share if self.llm.available else 0
        proposals: list[Proposal] = []
        if n_llm and self.config.mode == "generate":
            from_llm = self.llm.propose(
                space,
                history,
                n_llm,
                seed=seed,
                pending=pending,
                seen=seen,
                notes=[*notes, *optimizer_notes(optimizer)],
            )
            # The optimizer, not random sampling, stands in for what the LLM could not deliver.
            proposals = [p for p in from_llm if p.source is ProposalSource.LLM]
        elif n_llm:
            proposals = self._judge(optimizer, space, history, n_llm, seed=seed, notes=notes)
        if n_share > n_llm:  # random untried neighbours of the best trials, in the LLM's place
            taken = set(seen or ()) | {space.key(c) for c in [*pending, *(p.config for p in proposals)]}
            rng = np.random.default_rng(seed)
            pool = make_candidates(space, history, n_share - n_llm, rng, seen=taken, local_share=1.0)
            proposals += [Proposal(config, ProposalSource.NEIGHBOURS) for config in pool]
        from_optimizer = optimizer.ask(n - len(proposals))
        self.proposed_by_optimizer += len(from_optimizer)
        proposals += from_optimizer
        self._proposed += len(proposals)
        return proposals

    @property
    def llm_after(self) -> int:
        """Finished trials before the LLM proposes: the configured ``llm_after``, else in a contest the
        model's own setting (``Backend.contest_llm_after``), else ``DEFAULT_LLM_AFTER``."""
        if self.config.llm_after is not None:
            return self.config.llm_after
        model_setting = self.llm.model_setting("contest_llm_after") if self.config.share_by == "contest" else None
        return DEFAULT_LLM_AFTER if model_setting is None else model_setting

    @property
    def _share_sources(self) -> tuple[str, ...]:
        """Who the share's trials are from (each earns it against the optimizer; the better record holds)."""
        return ("llm", "neighbours") if self.config.share_by == "contest" else (self.config.share_by,)

    def _contest_part(self, n_share: int, history: History) -> int:
        """The LLM's part of ``n_share`` in a contest: from one half, scaled by its record against the
        neighbour moves; none before ``llm_after`` results or while the LLM is unavailable (disabled, or its
        budget spent)."""
        if not self.llm.available or len(history.finished()) < self.llm_after:
            return 0
        credit = proposer_credit(history, "llm", versus="neighbours")
        fraction = self._contest_fraction = earned_share(credit, 0.5, bounds=CONTEST_BOUNDS)
        if abs(fraction - self._logged_fraction) >= 0.1:
            self._logged_fraction = fraction
            _log_change("The LLM's part of the share", fraction, credit, "the neighbour moves'")
        count, self._contest_credit = _whole_part(n_share, fraction, self._contest_credit)
        return count

    def _judge(
        self,
        optimizer: OptunaOptimizer,
        space: SearchSpace,
        history: History,
        k: int,
        *,
        seed: int,
        notes: Sequence[str] = (),
    ) -> list[Proposal]:
        """``k`` of the optimizer's candidates: the LLM's picks, then the first others for picks it did not make."""
        candidates = optimizer.ask(k * self.config.candidates_per_pick)
        picked = self.llm.choose(
            space, history, [c.config for c in candidates], k, seed=seed, notes=[*notes, *optimizer_notes(optimizer)]
        )
        rest = [c for i, c in enumerate(candidates) if i not in picked]
        fill_ins, unused = rest[: k - len(picked)], rest[k - len(picked) :]
        optimizer.discard(unused)
        self.proposed_by_optimizer += len(fill_ins)  # they stay the optimizer's (source and credit)
        return [Proposal(candidates[i].config, ProposalSource.LLM, candidates[i].ticket) for i in picked] + fill_ins


def optimizer_notes(optimizer: OptunaOptimizer) -> list[str]:
    """Prompt lines on the optimizer's state: where it samples now, and how the LLM can complement it."""
    focus = optimizer.focus()
    if not focus:
        return []
    return [
        f"A {optimizer.kind.upper()} optimizer searches this space with you and knows all {optimizer.n_told} "
        "results. It is currently sampling here:",
        *focus,
        "Complement it: refine around the best trials or try promising regions it is not sampling.",
    ]


def _whole_part(n: int, fraction: float, carried: float) -> tuple[int, float]:
    """``n x fraction`` as a whole count now and the fractional rest carried to the next round, so that
    the long-run share is exact (0.3 x 20 must give 6, not 5.999)."""
    carried += n * fraction
    count = min(n, int(carried + 1e-9))
    return count, carried - count


def _log_change(what: str, value: float, credit: ProposerCredit, versus: str) -> None:
    """Log a visible change of a share and the record behind it."""
    ours, theirs = credit.rates()
    logger.info(
        "%s now %.2f: its trials beat the running median %d of %d times (smoothed rate %.2f), %s %d of %d (%.2f)",
        what,
        value,
        credit.llm_successes,
        credit.llm_trials,
        ours,
        versus,
        credit.optimizer_successes,
        credit.optimizer_trials,
        theirs,
    )
