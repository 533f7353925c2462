"""The embedded default model writes architecture specs under the spec grammar.

The grammar is what makes the spec form safe for the smallest model: every answer must parse and
every field must hold an allowed value, so the only problems left are those a grammar cannot see
(halving the image below one pixel, the parameter budget), which the fix round handles.
"""

from __future__ import annotations

import json

import pytest

from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.spec_writer import SpecWriter
from llm_search.exchange_log import ExchangeLog, read_exchanges
from trainables.models.arch_spec import validate_arch_spec

pytestmark = pytest.mark.integration

FASHION = ArchTask("Fashion-MNIST: 28x28 grey images of clothes, 10 classes", (1, 28, 28), 10, max_params=2_000_000)


def test_the_embedded_model_writes_specs_that_parse_and_hold_only_allowed_values(tmp_path):
    log_path = str(tmp_path / "llm_exchanges.jsonl")
    writer = SpecWriter("local", max_fix_rounds=1, exchange_log=ExchangeLog(log_path))
    context = ["- flawed_cnn: 3 trials, best val_acc=0.71; gradients of its best trial: conv1 vanishing (1e-09)"]
    results = [writer.write(FASHION, context, seed=seed) for seed in range(3)]
    answers = [r["answer"] for r in read_exchanges(log_path)]
    assert len(answers) >= 3
    for answer in answers:
        spec = json.loads(answer)  # the grammar: always one JSON spec
        field_problems = validate_arch_spec(spec)  # without the shape: fields and values only
        assert field_problems == [], answer
    assert any(r.ok for r in results), [a.report.error for r in results for a in r.attempts]
