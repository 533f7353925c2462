"""The spec form: specs written under a grammar, checked without running code, fixed from their problems."""

from __future__ import annotations

import json
import re

import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.search import ArchitectureConfig, ArchitectureProposer
from llm_search.arch.spec_prompts import spec_grammar
from llm_search.arch.spec_writer import SpecWriter, canonical_spec
from llm_search.arch.store import ArchStore, code_hash
from llm_search.backends.base import TransientBackendError
from llm_search.backends.scripted import ScriptedBackend
from llm_search.exchange_log import ExchangeLog, read_exchanges
from llm_search.history import History
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace
from tests.arch.test_arch_search import tune_on_digits

TASK = ArchTask("digits: 8x8 grey images, 10 classes", (1, 8, 8), 10, max_params=50_000)
GOOD = {"blocks": [{"channels": 16, "pool": "max"}, {"channels": 32, "pool": "max", "residual": True}]}
COLLAPSING = {"blocks": [{"channels": 8, "pool": "max"}] * 5}  # 8x8 halved five times
TOO_BIG = {"blocks": [{"channels": 256}, {"channels": 256, "kernel": 7}]}
BAD_KERNEL = {"blocks": [{"channels": 8, "kernel": 4}]}


def test_a_spec_over_budget_is_fixed_from_its_problem_and_stored(tmp_path):
    backend = ScriptedBackend([json.dumps(TOO_BIG), json.dumps(GOOD)])
    writer = SpecWriter(backend, store=ArchStore(tmp_path))
    result = writer.write(TASK)
    assert result.ok and result.fixed
    assert [a.role for a in result.attempts] == ["spec_writer", "spec_fixer"]
    fix_prompt = backend.history[1]["messages"][1]["content"]
    assert "the limit is 50,000: use fewer channels" in fix_prompt  # the fixer sees the problem
    assert json.loads(result.source) == json.loads(canonical_spec(GOOD))
    stored = ArchStore(tmp_path).get(result.arch_hash)
    assert stored["form"] == "spec" and stored["report"]["params"] == result.attempts[-1].report.params


def test_halvings_beyond_the_input_are_dropped_and_noted_not_sent_back(tmp_path):
    # What the 0.5B model wrote in the flawed-CNN experiment: pooling after every block, so the map
    # reached 1x1 before the last blocks; its fixer rounds kept doing it.
    log = ExchangeLog(str(tmp_path / "llm_exchanges.jsonl"))
    result = SpecWriter(ScriptedBackend([json.dumps(COLLAPSING)]), exchange_log=log).write(TASK)
    assert result.ok and not result.fixed
    assert [block["pool"] for block in json.loads(result.source)["blocks"]] == ["max", "max", "max", "none", "none"]
    (record,) = read_exchanges(str(tmp_path / "llm_exchanges.jsonl"))
    assert record["repairs"] == [
        "blocks[3]: pooling removed (the map was 1x1)",
        "blocks[4]: pooling removed (the map was 1x1)",
    ]


def test_over_budget_unparsable_and_never_fixed_specs_end_without_a_network():
    backend = ScriptedBackend([json.dumps(TOO_BIG), "a network with three layers", json.dumps(BAD_KERNEL)])
    result = SpecWriter(backend, max_fix_rounds=2).write(TASK)
    assert not result.ok and result.source is None and len(result.attempts) == 3
    errors = [a.report.error for a in result.attempts]
    assert "the limit is 50,000: use fewer channels" in errors[0]
    assert errors[1].startswith("The answer held no JSON spec")
    assert "blocks[0].kernel: must be one of [1, 3, 5, 7], got 4" in errors[2]


def test_a_failing_backend_ends_the_write_without_raising():
    def down(messages, options):
        raise TransientBackendError("connection refused")

    result = SpecWriter(ScriptedBackend(default=down)).write(TASK)
    assert not result.ok and [a.report.stopped_by for a in result.attempts] == ["backend"]


def test_grammar_backends_get_the_spec_grammar():
    backend = ScriptedBackend([json.dumps(GOOD)])
    SpecWriter(backend).write(TASK)
    assert backend.history[0]["options"]["grammar"] == spec_grammar()


SPACE = SearchSpace.from_tune({"model": tune.choice(["flawed_cnn", "resnet9"]), "lr": tune.loguniform(1e-4, 1e-1)})


def history_of(n: int) -> History:
    history = History("val_acc", "max")
    for i in range(n):
        history.start(f"t{i}", {"model": "flawed_cnn", "lr": 1e-3}, "llm")
        history.add_result(f"t{i}", {"val_acc": 0.5, "grad_norm/total": 1.0, "grad_norm/conv1": 1e-9})
        history.complete(f"t{i}")
    return history


def test_a_written_spec_becomes_a_choice_and_its_config_carries_the_spec():
    llm_backend = ScriptedBackend(default='{"configs": [{"model": "flawed_cnn", "lr": 0.001}]}')
    spec_backend = ScriptedBackend([json.dumps(GOOD)])
    writer = SpecWriter(spec_backend)
    arch = ArchitectureProposer(LLMProposer(llm_backend), ArchitectureConfig(TASK, form="spec", first_after=2), writer)
    arch.propose(SPACE, history_of(2), 1, seed=0)
    label = f"spec:{code_hash(canonical_spec(GOOD))}"
    assert list(arch.sources) == [label]
    prompt = llm_backend.history[-1]["messages"][1]["content"]
    assert f"- {label}: conv16 k3 bn relu maxpool | conv32 k3 bn relu maxpool residual | head avg;" in prompt
    expanded = arch.expand({"model": label, "lr": 0.01})
    assert expanded["model"] == "spec_cnn" and expanded["arch"] == json.loads(canonical_spec(GOOD))
    assert "conv1" in spec_backend.history[0]["messages"][1]["content"]  # the diagnosis reached the writer


def test_an_unknown_form_is_a_clear_error():
    with pytest.raises(ValueError, match="form must be one of"):
        ArchitectureConfig(TASK, form="onnx")


def pick_written_spec(messages, options):
    labels = re.findall(r'"(spec:[0-9a-f]{16})"', messages[1]["content"])
    return json.dumps({"configs": [{"model": labels[-1] if labels else "flawed_cnn", "learning_rate": 0.01}]})


@pytest.mark.integration
@pytest.mark.usefixtures("ray_session")
def test_tune_trains_a_written_spec_on_real_data(tmp_path):
    pytest.importorskip("torch")
    from trainables import train_image_classifier

    searcher = LLMSearcher(
        backend=ScriptedBackend(default=pick_written_spec),
        strategy="llm",
        roles={"spec_writer": ScriptedBackend([json.dumps(GOOD)])},
        architectures=ArchitectureConfig(TASK, form="spec", first_after=2),
        prefetch=0,
        seed=0,
    )
    results = tune_on_digits(train_image_classifier, searcher, tmp_path)
    specced = [r for r in results if r.config.get("model") == "spec_cnn"]
    assert specced, [r.config.get("model") for r in results]
    assert all(r.error is None and r.config["arch"] == json.loads(canonical_spec(GOOD)) for r in specced)
    assert all(r.metrics["val_acc"] > 0.2 for r in specced)
    assert searcher.stats["networks_written"] == 1
