"""Integration fixtures (the Ray runtime itself comes from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def storage(tmp_path):
    return str(tmp_path / "ray_results")
