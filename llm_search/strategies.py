"""Which proposer an ``LLMSearcher`` runs: the strategy (llm, rank, hybrid), wrapped for architecture search.

Example:
    >>> from llm_search.backends import ScriptedBackend
    >>> from llm_search.proposer import LLMProposer
    >>> from llm_search.roles import RoleBackends
    >>> llm = LLMProposer(ScriptedBackend(['{"configs": []}']))
    >>> strategy, proposer = build_proposer(llm, RoleBackends("local"), None, hybrid={"llm_share": 0.5})
    >>> strategy, type(proposer).__name__, type(proposer.inner).__name__  # the hybrid after a 5-trial start
    ('hybrid', 'InitialDesign', 'HybridProposer')
    >>> build_proposer(llm, RoleBackends("local"), "llm")[1] is llm  # Zhang et al.'s design: no start
    True
"""

from __future__ import annotations

from typing import Any, Mapping

from llm_search.arch.search import ArchitectureConfig
from llm_search.backends.registry import BackendSpec
from llm_search.exchange_log import ExchangeLog
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.initial_design import InitialDesign
from llm_search.proposal import Proposer
from llm_search.proposer import LLMProposer
from llm_search.ranking import RankConfig, RankingProposer
from llm_search.roles import RoleBackends

# The space-filling start each strategy gets unless ``initial_design`` is given: the hybrid's measured
# default (docs/benchmarks.md, "The hybrid's controls"); "llm" and "rank" keep their published designs.
DEFAULT_INITIAL_DESIGN = {"hybrid": 5, "llm": 0, "rank": 0}

SETTINGS_WITHOUT_STRATEGY = (
    "LLMSearcher got hybrid= or rank= settings that do not belong to strategy={strategy!r}: drop one of them."
)


def build_proposer(
    llm: LLMProposer,
    roles: RoleBackends,
    strategy: str | None,
    *,
    hybrid: HybridConfig | Mapping[str, Any] | None = None,
    rank: RankConfig | Mapping[str, Any] | None = None,
    architectures: ArchitectureConfig | None = None,
    exchange_log: ExchangeLog | None = None,
    seed: int | None = None,
    initial_design: int | None = None,
) -> tuple[str, Proposer]:
    """The strategy's name (default ``"hybrid"``; ``rank=`` settings imply ``"rank"``) and its proposer,
    after ``initial_design`` trials of a space-filling start (default: ``DEFAULT_INITIAL_DESIGN``)."""
    strategy = strategy or ("rank" if rank is not None and hybrid is None else "hybrid")
    if (hybrid is not None and strategy != "hybrid") or (rank is not None and strategy != "rank"):
        raise ValueError(SETTINGS_WITHOUT_STRATEGY.format(strategy=strategy))
    proposer: Proposer
    if strategy == "llm":
        proposer = llm
    elif strategy == "hybrid":
        config = hybrid if isinstance(hybrid, HybridConfig) else HybridConfig(**dict(hybrid or {}))
        proposer = HybridProposer(llm, config, seed=seed)
    elif strategy == "rank":
        proposer = RankingProposer(llm, rank if isinstance(rank, RankConfig) else RankConfig(**dict(rank or {})))
    else:
        raise ValueError(f"strategy must be 'llm', 'rank' or 'hybrid', got {strategy!r}")
    if initial_design is None:
        initial_design = DEFAULT_INITIAL_DESIGN[strategy]
    if initial_design:
        proposer = InitialDesign(proposer, initial_design, seed=seed)
    if architectures is not None:
        proposer = with_architectures(proposer, architectures, roles, exchange_log or ExchangeLog())
    return strategy, proposer


def with_architectures(
    inner: Proposer, config: ArchitectureConfig, roles: RoleBackends, exchange_log: ExchangeLog
) -> Proposer:
    """``inner`` wrapped to write networks: the spec writer (default: the searcher's backend) or the
    code writer and fixer (default: the embedded coder model when the searcher's backend is embedded)."""
    from llm_search.arch.code_writer import DEFAULT_CODE_MODEL, CodeWriter
    from llm_search.arch.search import ArchitectureProposer
    from llm_search.arch.spec_writer import SpecWriter

    if config.form == "spec":
        return ArchitectureProposer(inner, config, SpecWriter(roles.spec("spec_writer"), exchange_log=exchange_log))

    def spec(role: str) -> BackendSpec:
        default = roles.default
        embedded = isinstance(default, str) and default.split(":")[0] == "local"
        return roles.overrides.get(role, DEFAULT_CODE_MODEL if embedded else default)

    writer = CodeWriter(spec("code_writer"), spec("code_fixer"), exchange_log=exchange_log)
    return ArchitectureProposer(inner, config, writer)
