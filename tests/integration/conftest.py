"""One Ray runtime for the whole integration session (ray.init costs seconds; FACTS.md)."""

from __future__ import annotations

import os

import pytest

# A 2-core machine: let trial workers start without waiting for the dashboard or metrics agent.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def storage(tmp_path):
    return str(tmp_path / "ray_results")
