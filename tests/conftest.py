"""Fixtures shared by every test folder: one Ray runtime for the whole session.

``ray.init`` costs seconds and two of them cannot coexist in one process, so every test that needs
Ray asks for ``ray_session`` (FACTS.md: one shared init made Tune tests 3-4x faster).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
