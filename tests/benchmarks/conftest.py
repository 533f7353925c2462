"""Fixtures of the benchmark-harness tests: one Ray runtime, a scripted LLM backend, hand-made tables."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripted import SCRIPTED_PREFIX, register_scripted_backend


@pytest.fixture(scope="session")
def ray_runtime(ray_session):
    """The session's one Ray runtime (tests/conftest.py); ``ensure_ray`` must then start nothing."""
    from benchmarks.execute import ensure_ray

    ensure_ray(2)
    return ray_session


@pytest.fixture(scope="session")
def scripted_backend_spec() -> str:
    """A backend spec whose LLM answers with valid random configs of the problem in the prompt."""
    register_scripted_backend()
    return SCRIPTED_PREFIX
