"""llm-search: LLM-guided hyperparameter search as a Ray Tune searcher.

Example:
    >>> from llm_search import LLMSearcher  # doctest: +SKIP
    >>> searcher = LLMSearcher(backend="local", task="ResNet-9 on CIFAR-10")  # doctest: +SKIP

``LLMSearcher`` is imported lazily so that ``import llm_search`` (and the backends) stay light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["LLMSearcher", "LLMSupervisor", "HybridConfig", "SearchSpace", "ContextLimits", "get_backend"]


def __getattr__(name: str) -> Any:
    if name == "LLMSearcher":
        from llm_search.searcher import LLMSearcher

        return LLMSearcher
    if name == "LLMSupervisor":
        from llm_search.supervision.scheduler import LLMSupervisor

        return LLMSupervisor
    if name == "HybridConfig":
        from llm_search.hybrid import HybridConfig

        return HybridConfig
    if name == "SearchSpace":
        from llm_search.space import SearchSpace

        return SearchSpace
    if name == "ContextLimits":
        from llm_search.prompts import ContextLimits

        return ContextLimits
    if name == "get_backend":
        from llm_search.backends import get_backend

        return get_backend
    raise AttributeError(f"module 'llm_search' has no attribute {name!r}")
