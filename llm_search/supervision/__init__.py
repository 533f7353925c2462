"""In-training supervision: an analyst LLM reads running trials and continues, retunes, redesigns or stops them.

``LLMSupervisor`` (a Ray Tune scheduler) is imported lazily: it imports Ray Tune, the verdict and
prompt modules do not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLMSupervisor", "Verdict"]


def __getattr__(name: str) -> Any:
    if name == "LLMSupervisor":
        from llm_search.supervision.scheduler import LLMSupervisor

        return LLMSupervisor
    if name == "Verdict":
        from llm_search.supervision.verdict import Verdict

        return Verdict
    raise AttributeError(f"module 'llm_search.supervision' has no attribute {name!r}")
