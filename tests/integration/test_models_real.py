"""The real Qwen2.5-Coder 0.5B model, which ``scripts/bootstrap.sh --dev`` installs for the tests.

One short grammar-bound answer (the 1.5B model is checked the same way by hand: it is 1.1 GB).
"""

from __future__ import annotations

import json
import os

import pytest

from llm_search.backends import local
from llm_search.backends.local import LocalBackend
from llm_search.backends.model_store import is_verified, model_file, model_status, sidecar_path
from llm_search.backends.models import get_model

pytestmark = pytest.mark.integration

GRAMMAR = '%llguidance {}\nstart: "{\\"momentum\\": " MOM "}"\nMOM: /0\\.(8[0-9]|9[0-8])/\n'


def test_a_named_qwen_model_resolves_verified_and_answers():
    name = "qwen2.5-coder-0.5b"
    entry = get_model(name)
    status = model_status(entry)
    assert status.verified or status.installed, f"{name} is not installed: {entry.install_command}"
    path = local.resolve_model_path(name)
    assert path == model_file(entry) and os.path.getsize(path) == entry.size and is_verified(entry, path)
    with open(sidecar_path(path), encoding="utf-8") as handle:
        assert json.load(handle)["sha256"] == entry.sha256
    with open(path, "rb") as handle:
        assert handle.read(4) == b"GGUF"
    backend = LocalBackend(name, n_threads=2)
    completion = backend.complete(
        [
            {"role": "system", "content": "You tune hyperparameters. Answer with JSON only."},
            {"role": "user", "content": 'Propose a momentum for SGD in [0.8, 0.99] as {"momentum": ...}.'},
        ],
        grammar=GRAMMAR,
        max_tokens=16,
        seed=0,
    )
    assert 0.8 <= json.loads(completion.text)["momentum"] <= 0.99
    assert completion.model == entry.display_name and completion.prompt_tokens > 20
