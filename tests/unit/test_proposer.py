"""One proposal round: re-ask, random fill, backend failures, call budget, exchange log."""

from __future__ import annotations

import json

from ray import tune

from llm_search.backends import PermanentBackendError, ScriptedBackend, TransientBackendError
from llm_search.exchange_log import ExchangeLog, read_exchanges
from llm_search.history import History
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "opt": tune.choice(["sgd", "adam"])})


def answer(*configs) -> str:
    return json.dumps({"configs": list(configs)})


def propose(backend, n=2, **kwargs):
    proposer = LLMProposer(backend, **kwargs)
    return proposer, proposer.propose(SPACE, History("loss", "min"), n, seed=0)


def test_valid_answer_needs_one_call_and_passes_grammar_and_schema():
    backend = ScriptedBackend([answer({"lr": 0.01, "opt": "sgd"}, {"lr": 0.001, "opt": "adam"})])
    proposer, proposals = propose(backend)
    assert [p.source for p in proposals] == ["llm", "llm"]
    call = backend.history[0]
    assert call["options"]["grammar"].startswith("%llguidance")
    assert call["schema"]["properties"]["configs"]["minItems"] == 2
    assert proposer.stats.llm_calls == 1 and proposer.stats.fallbacks == 0


def test_rejected_configs_are_reasked_once_with_reasons_then_filled_randomly():
    backend = ScriptedBackend([answer({"lr": 99, "opt": "sgd"}, {"lr": 0.01, "opt": "sgd"}), "not json at all"])
    proposer, proposals = propose(backend)
    assert [p.source for p in proposals] == ["llm", "random"]
    assert len(backend.history) == 2
    reask = backend.history[1]["messages"][-1]["content"]
    assert "far outside" in reask and "exactly 1" in reask
    assert proposer.stats.reasks == 1 and proposer.stats.fallbacks == 1 and proposer.stats.rejected == 2


def test_transient_failure_falls_back_to_random_and_stays_enabled():
    proposer, proposals = propose(ScriptedBackend([TransientBackendError("throttled")]))
    assert [p.source for p in proposals] == ["random", "random"]
    assert proposer.available and proposer.stats.llm_failures == 1
    assert all(SPACE.validate(p.config)[0] == p.config for p in proposals)


def test_permanent_failure_disables_the_llm_with_a_message(caplog):
    backend = ScriptedBackend([PermanentBackendError("no model access: request it in the console")])
    proposer, proposals = propose(backend)
    assert not proposer.available and "request it in the console" in proposer.disabled_reason
    assert "disabled for the rest of this experiment" in caplog.text
    proposer.propose(SPACE, History("loss", "min"), 2, seed=1)
    assert len(backend.history) == 1  # not asked again


def test_unexpected_backend_exception_does_not_escape():
    proposer, proposals = propose(ScriptedBackend([ZeroDivisionError("bug")]))
    assert len(proposals) == 2 and proposer.stats.llm_failures == 1


def test_call_budget():
    backend = ScriptedBackend(default=answer({"lr": 0.01, "opt": "sgd"}))
    proposer = LLMProposer(backend, max_llm_calls=1)
    proposer.propose(SPACE, History("loss", "min"), 1, seed=0)
    proposals = proposer.propose(SPACE, History("loss", "min"), 1, seed=1)
    assert len(backend.history) == 1 and proposals[0].source == "random"
    assert "max_llm_calls=1" in proposer.disabled_reason


def test_exchange_log_records_every_call(tmp_path):
    log = ExchangeLog(str(tmp_path))
    backend = ScriptedBackend([answer({"lr": 5.0, "opt": "sgd"}), TransientBackendError("timeout")])
    proposer = LLMProposer(backend, exchange_log=log)
    proposer.propose(SPACE, History("loss", "min"), 1, seed=0)
    records = list(read_exchanges(str(tmp_path)))
    assert [r["attempt"] for r in records] == [1, 2]
    first, second = records
    assert first["answer"] and first["rejections"] and first["messages"][0]["role"] == "system"
    assert first["tokens"]["prompt"] > 0 and first["backend"] == "scripted" and first["model"] == "scripted"
    assert "TransientBackendError: timeout" in second["error"]


def test_backend_spec_is_built_lazily_and_not_pickled():
    import pickle

    proposer = LLMProposer("replay:/nonexistent.jsonl")
    clone = pickle.loads(pickle.dumps(proposer))
    proposals = clone.propose(SPACE, History("loss", "min"), 1, seed=0)
    assert proposals[0].source == "random" and "not found" in clone.disabled_reason


def test_cost_is_estimated_from_the_backend_name_and_logged(tmp_path):
    paid = ScriptedBackend(default=answer({"lr": 0.01, "opt": "sgd"}))
    paid.name = "bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    log = ExchangeLog(str(tmp_path))
    proposer = LLMProposer(paid, exchange_log=log)
    proposer.propose(SPACE, History("loss", "min"), 1, seed=0)
    assert proposer.stats.cost_usd > 0
    assert next(read_exchanges(str(tmp_path)))["cost_usd"] == round(proposer.stats.cost_usd, 6)
    free = LLMProposer(ScriptedBackend(default=answer({"lr": 0.01, "opt": "sgd"})))
    free.propose(SPACE, History("loss", "min"), 1, seed=0)
    assert free.stats.cost_usd == 0.0


def test_on_a_finite_grid_the_grammar_admits_no_config_already_seen():
    import random

    from tests.unit.test_grammar import _sentence

    cells = SearchSpace.from_tune({"op": tune.choice(["conv", "pool", "skip"]), "k": tune.choice([1, 3])})
    seen = {cells.key({"op": op, "k": k}) for op in ("conv", "pool", "skip") for k in (1, 3)} - {
        cells.key({"op": "skip", "k": 3})
    }
    backend = ScriptedBackend([answer({"op": "skip", "k": 3})])
    proposals = LLMProposer(backend).propose(cells, History("loss", "min"), 1, seed=0, seen=seen)
    assert [p.config for p in proposals] == [{"op": "skip", "k": 3}]
    grammar, rng = backend.history[0]["options"]["grammar"], random.Random(0)
    written = {cells.key(json.loads(_sentence(grammar, rng))["configs"][0]) for _ in range(50)}
    assert written == {cells.key({"op": "skip", "k": 3})}  # the one config not seen
