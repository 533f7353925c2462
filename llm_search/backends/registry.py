"""Spec strings -> backends: ``"local"``, ``"local:<model-or-gguf>"``, ``"replay:<log>"``, ...

Providers are registered by import path so that an SDK is imported only when its backend is used.

Example:
    >>> get_backend("replay:missing.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llm_search.backends.base.PermanentBackendError: replay log 'missing.jsonl' not found: pass the ...
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Union

from llm_search.backends.base import Backend, PermanentBackendError

# prefix -> "module:factory"; the factory takes (argument_after_colon_or_None, **options).
_REGISTRY: dict[str, Union[str, Callable[..., Backend]]] = {
    "local": "llm_search.backends.local:LocalBackend",
    "replay": "llm_search.backends.replay:ReplayBackend",
    "bedrock": "llm_search.backends.bedrock:BedrockBackend",
    "ollama": "llm_search.backends.ollama:OllamaBackend",
    "ollama-cli": "llm_search.backends.ollama:OllamaCLIBackend",
    "openai": "llm_search.backends.openai_compat:OpenAICompatBackend",
}

BackendSpec = Union[str, Backend]


def register_backend(prefix: str, factory: Union[str, Callable[..., Backend]]) -> None:
    """Make ``"<prefix>:<argument>"`` specs build backends with ``factory(argument, **options)``."""
    _REGISTRY[prefix] = factory


def available_prefixes() -> list[str]:
    return sorted(_REGISTRY)


def get_backend(spec: BackendSpec, **options: Any) -> Backend:
    """Build the backend named by ``spec`` (or return ``spec`` if it already is a backend)."""
    if isinstance(spec, Backend):
        return spec
    if not isinstance(spec, str) or not spec:
        raise PermanentBackendError(f"A backend must be a spec string or a Backend object, got {spec!r}")
    prefix, _, argument = spec.partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None:
        raise PermanentBackendError(
            f"Unknown backend {spec!r}. Known prefixes: {', '.join(available_prefixes())} "
            "(e.g. 'local', 'local:/path/model.gguf', 'replay:llm_exchanges.jsonl')."
        )
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
    return factory(argument, **options) if argument else factory(**options)
