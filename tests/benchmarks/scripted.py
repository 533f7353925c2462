"""A scripted stand-in for the LLM: answers every prompt with valid configs of the prompted problem.

Registered as the backend spec ``"bench-scripted"`` so the runner's ``--backend`` reaches it; the
LLM path of ``LLMSearcher`` (prompt, parse, validate, stats) runs for real, in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

SCRIPTED_PREFIX = "bench-scripted"
CONFIGS_PER_ANSWER = 8


def _spaces() -> list[dict]:
    """Spaces of the problems these tests run, most specific first (the prompt lists the parameters)."""
    from benchmarks.problems import get_problem, image_space

    return [image_space(), get_problem("hpobench/kc1").space, get_problem("toy/branin").space]


def _answer(messages: Sequence[dict], options: dict) -> str:
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    space = next(s for s in _spaces() if all(key in prompt for key in s))
    rng = np.random.default_rng(options.get("seed", 0))
    configs = []
    for _ in range(CONFIGS_PER_ANSWER):
        config = {key: domain.sample(random_state=rng) for key, domain in space.items()}
        configs.append({key: value.item() if hasattr(value, "item") else value for key, value in config.items()})
    return json.dumps({"configs": configs})


def register_scripted_backend() -> None:
    """Make ``"bench-scripted"`` build a fresh ScriptedBackend answering with :func:`_answer`."""
    from llm_search.backends import ScriptedBackend, register_backend

    register_backend(SCRIPTED_PREFIX, lambda **options: ScriptedBackend(default=_answer))
