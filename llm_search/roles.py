"""Roles: which LLM does which job.

The AWS work used a strong model with extended thinking to write code and a small fast one for
checks and reports; here every role may have its own backend. The roles in use: ``proposer``
(configs; also the judge of the hybrid and rank strategies), ``code_writer`` and ``code_fixer``
(model code, ``llm_search.arch.code_writer``), ``spec_writer`` (architecture specs, which it also
fixes; ``llm_search.arch.spec_writer``). The training supervisor's analyst has its own backend
(``LLMSupervisor(backend=...)``).

Example:
    >>> roles = RoleBackends("local", {"proposer": "bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0"},
    ...                      options={"proposer": {"thinking_budget_tokens": 4000}})
    >>> roles.spec("proposer")[:8], roles.options("proposer")
    ('bedrock:', {'thinking_budget_tokens': 4000})
    >>> RoleBackends("local", {"analyst": "local"})
    Traceback (most recent call last):
    ...
    ValueError: Unknown role(s) ['analyst']; roles are proposer, code_writer, code_fixer, spec_writer
"""

from __future__ import annotations

from typing import Any, Mapping

from llm_search.backends.registry import BackendSpec

ROLES = ("proposer", "code_writer", "code_fixer", "spec_writer")  # the jobs an LLM does today


class RoleBackends:
    """A default backend plus per-role overrides (spec strings or backend objects) and options."""

    def __init__(
        self,
        default: BackendSpec = "local",
        overrides: Mapping[str, BackendSpec] | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        unknown = set(overrides or {}).union(options or {}) - set(ROLES)
        if unknown:
            raise ValueError(f"Unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
        self.default = default
        self.overrides = dict(overrides or {})
        self._options = {role: dict(opts) for role, opts in (options or {}).items()}

    def spec(self, role: str) -> BackendSpec:
        if role not in ROLES:
            raise ValueError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}")
        return self.overrides.get(role, self.default)

    def options(self, role: str) -> dict[str, Any]:
        return dict(self._options.get(role, {}))
