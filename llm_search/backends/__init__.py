"""LLM backends behind one protocol (see ``base.py``) and a registry of spec strings."""

from llm_search.backends.base import (
    Backend,
    BackendError,
    Completion,
    PermanentBackendError,
    TransientBackendError,
)
from llm_search.backends.registry import available_prefixes, get_backend, register_backend
from llm_search.backends.scripted import ScriptedBackend

__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "PermanentBackendError",
    "ScriptedBackend",
    "TransientBackendError",
    "available_prefixes",
    "get_backend",
    "register_backend",
]
