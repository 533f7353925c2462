"""A backend's model brings its prompt size and sampling temperature, through any wrapper."""

from __future__ import annotations

import pytest
from ray import tune

from llm_search.backends.local import LocalBackend
from llm_search.backends.scripted import ScriptedBackend
from llm_search.history import History
from llm_search.pricing import Budget
from llm_search.prompts import ContextLimits
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune({"x": tune.uniform(0, 1)})


def finished_history(n: int) -> History:
    history = History("loss", "min")
    for i in range(n):
        history.start(f"t{i}", {"x": i / n}, "llm")
        history.complete(f"t{i}", {"loss": float(i)})
    return history


def ask(proposer: LLMProposer, backend: ScriptedBackend, history: History) -> tuple[str, dict]:
    backend.enqueue('{"configs": [{"x": 0.123}]}')
    proposer.propose(SPACE, history, 1, seed=0)
    call = backend.history[-1]
    return call["messages"][1]["content"], call["options"]


def test_the_models_history_size_and_temperature_are_used_through_the_budget_and_cache(tmp_path):
    backend = ScriptedBackend()
    backend.history_trials, backend.default_temperature = 8, 0.3
    proposer = LLMProposer(backend, budget=Budget(max_calls=10), cache_dir=str(tmp_path))
    text, options = ask(proposer, backend, finished_history(30))
    assert options["temperature"] == 0.3
    assert proposer.limits == ContextLimits(trials=8)
    assert f"Best 4 of trials #1-#{ContextLimits(trials=8).older_cut(30)}" in text


def test_explicit_settings_win_over_the_models():
    backend = ScriptedBackend()
    backend.history_trials, backend.default_temperature = 8, 0.3
    proposer = LLMProposer(backend, limits=ContextLimits(trials=40), temperature=1.2)
    text, options = ask(proposer, backend, finished_history(30))
    assert options["temperature"] == 1.2 and "Trials in the order they finished" in text and "#30 " in text


def test_a_backend_without_model_defaults_gets_the_prompts_defaults():
    backend = ScriptedBackend()
    proposer = LLMProposer(backend)
    _, options = ask(proposer, backend, finished_history(3))
    assert options["temperature"] == 1.0 and proposer.limits == ContextLimits()


def test_named_embedded_models_carry_their_catalog_settings():
    small, large = LocalBackend("smollm2"), LocalBackend("local:qwen2.5-coder-1.5b")
    assert (small.history_trials, large.history_trials) == (20, 40)
    assert (small.n_ctx, large.n_ctx) == (4096, 8192) and large.default_temperature == 0.7
    assert LocalBackend("/models/any.gguf", n_ctx=2048).history_trials is None


def test_some_context_fields_as_a_dict_keep_the_models_history_size():
    backend = ScriptedBackend()
    backend.history_trials = 8
    proposer = LLMProposer(backend, limits={"order": "best_first"})
    text, _ = ask(proposer, backend, finished_history(30))
    assert proposer.limits == ContextLimits(trials=8, order="best_first")
    assert "Trials, best first (best 8 of 30; lower is better):\n#1 " in text  # loss=i: #1 is the best


def test_a_wrong_context_field_fails_when_the_proposer_is_built():
    with pytest.raises(ValueError, match="order='newest'"):
        LLMProposer(ScriptedBackend(), limits={"order": "newest"})
    with pytest.raises(TypeError):
        LLMProposer(ScriptedBackend(), limits={"trails": 8})
