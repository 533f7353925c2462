"""The proposer interface: what the searcher drives, whoever makes the proposals.

:class:`LLMSearcher` queues, hands out and records proposals; a :class:`Proposer` makes them.
Every strategy (the pure LLM proposer, the hybrid of an optimizer and the LLM, and later the
architecture proposer) implements this one small interface, as Optuna's ``BaseSampler`` does for
samplers, so the searcher never needs to know which one it holds.

Example:
    >>> ProposalSource("llm") is ProposalSource.LLM, f"{ProposalSource.OPTIMIZER}"
    (True, 'optimizer')
    >>> TrialStatus.RUNNING == "running"  # members are strings: saved states and tables stay plain
    True
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from llm_search.history import History
    from llm_search.space import SearchSpace


class _StrEnum(str, Enum):
    """A string enum that prints as its value (``enum.StrEnum`` needs Python 3.11)."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


class ProposalSource(_StrEnum):
    """Who proposed a trial's configuration."""

    LLM = "llm"
    RANDOM = "random"  # a fallback for what the LLM could not deliver
    OPTIMIZER = "optimizer"  # the hybrid's classical optimizer
    POINTS = "points"  # points_to_evaluate
    DESIGN = "design"  # the space-filling start (``initial_design``)
    NEIGHBOURS = "neighbours"  # the hybrid's model-free control: moves near the best, in the LLM's place
    EXTERNAL = "external"  # add_evaluated_point / add_evaluated_trials


class TrialStatus(_StrEnum):
    """Where a trial stands, as the searcher knows it."""

    RUNNING = "running"
    COMPLETED = "completed"
    ERRORED = "errored"
    # Running when the searcher's state was saved, and not heard of since it was restored: Tune may
    # resume it (its next result makes it running again) or may never run it again.
    INTERRUPTED = "interrupted"


@dataclass
class Proposal:
    """One configuration to run, with who proposed it.

    ``ticket`` identifies the proposer's own bookkeeping for it (e.g. the optimizer trial it asked),
    handed back through :meth:`Proposer.on_trial_start` once Tune gives the trial its id.
    """

    config: dict[str, Any]  # flat parameter values
    source: ProposalSource
    ticket: str | None = None


@dataclass
class ProposerStats:
    llm_calls: int = 0
    llm_failures: int = 0
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefix_cached_tokens: int = 0  # prompt tokens the backend reused from its prefix cache
    llm_seconds: float = 0.0
    cost_usd: float = 0.0  # estimated from the price table (llm_search.pricing)
    proposed_by_llm: int = 0
    fallbacks: int = 0  # configs the LLM should have given and random sampling gave instead
    rejected: int = 0
    duplicates: int = 0
    repaired: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Proposer(abc.ABC):
    """Makes the configurations the searcher hands to Tune.

    The searcher calls :meth:`propose` from its background thread with a snapshot of the history,
    :meth:`on_trial_start` from Tune's driver loop when a proposal becomes a trial, and
    :meth:`get_state` / :meth:`set_state` when Tune saves or restores the experiment. A proposer
    never raises for bad LLM answers or failing backends: it falls back and counts.
    """

    @abc.abstractmethod
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
        """``n`` proposals (``pending``: configs running or queued; ``seen``: keys already tried;
        ``notes``: lines a wrapping proposer adds to the LLM's prompt)."""

    #: LLM call and proposal counters.
    stats: ProposerStats
    #: Why the LLM is no longer asked (None while it is).
    disabled_reason: str | None

    def on_trial_start(self, trial_id: str, proposal: Proposal) -> None:  # noqa: B027 (optional hook)
        """Tune started ``proposal`` as trial ``trial_id`` (called in the driver loop: keep it fast)."""

    def on_discard(self, proposal: Proposal) -> None:  # noqa: B027 (optional hook)
        """``proposal`` will never run (the searcher dropped it as a duplicate of a queued one)."""

    def report(self) -> dict[str, Any]:
        """Counters for ``LLMSearcher.stats`` beyond :attr:`stats` (e.g. the hybrid's LLM share)."""
        return {}

    def check_space(self, space: SearchSpace) -> None:  # noqa: B027 (optional hook)
        """Raise a ValueError that names the fix if ``space`` does not suit this proposer."""

    def extend_space(self, space: SearchSpace) -> SearchSpace:
        """The space proposals are made in (e.g. with generated architectures among a parameter's choices)."""
        return space

    def expand(self, config: dict[str, Any]) -> dict[str, Any]:
        """The Tune config a proposal becomes (e.g. a generated architecture's label -> its code)."""
        return config

    @abc.abstractmethod
    def get_state(self) -> dict[str, Any]:
        """Plain, picklable state that :meth:`set_state` restores (no clients or handles)."""

    @abc.abstractmethod
    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` wrote."""


class WrappingProposer(Proposer):
    """A proposer that adds to ``inner`` (a start, architectures...) and passes the rest through to it.

    Subclasses implement :meth:`propose` and override only the hooks they change; their state
    extends :meth:`get_state`'s ``{"inner": ...}``.
    """

    def __init__(self, inner: Proposer):
        self.inner = inner

    @property
    def stats(self) -> ProposerStats:  # type: ignore[override]
        return self.inner.stats

    @property
    def disabled_reason(self) -> str | None:  # type: ignore[override]
        return self.inner.disabled_reason

    def on_trial_start(self, trial_id: str, proposal: Proposal) -> None:
        self.inner.on_trial_start(trial_id, proposal)

    def on_discard(self, proposal: Proposal) -> None:
        self.inner.on_discard(proposal)

    def report(self) -> dict[str, Any]:
        return self.inner.report()

    def check_space(self, space: SearchSpace) -> None:
        self.inner.check_space(space)

    def extend_space(self, space: SearchSpace) -> SearchSpace:
        return self.inner.extend_space(space)

    def expand(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.inner.expand(config)

    def get_state(self) -> dict[str, Any]:
        return {"inner": self.inner.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.inner.set_state(state["inner"])
