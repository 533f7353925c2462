"""Fixtures shared by the backend tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from .fake_http import FakeServer


@pytest.fixture()
def fake_server() -> Iterator[FakeServer]:
    """A scripted HTTP server on 127.0.0.1 (random free port), closed after the test."""
    server = FakeServer()
    yield server
    server.close()
