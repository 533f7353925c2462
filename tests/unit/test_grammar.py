"""Grammar: every literal a number terminal admits is valid for the space."""

from __future__ import annotations

import json
import re

from ray import tune

from llm_search.grammar import answer_grammar, number_grid
from llm_search.space import CategoricalParam, SearchSpace

from tests.unit.test_space import ALL_DOMAINS


def test_every_number_literal_is_in_range_and_on_the_grid():
    space = SearchSpace.from_tune(ALL_DOMAINS)
    for param in space.params:
        if isinstance(param, CategoricalParam):
            continue
        literals = number_grid(param)
        assert 2 <= len(literals) <= 260, (param, len(literals))
        for literal in literals:
            value = json.loads(literal)  # valid JSON number
            flat, problems = space.validate({**space.sample(__import__("numpy").random.default_rng(0)), param.name: value})
            assert flat is not None and not [p for p in problems if p.name == param.name], (param, literal, problems)


def test_log_grid_covers_every_decade():
    space = SearchSpace.from_tune({"lr": tune.loguniform(1e-5, 1e-1)})
    values = [float(v) for v in number_grid(space["lr"])]
    for decade in (1e-5, 1e-4, 1e-3, 1e-2):
        assert any(decade <= v < decade * 10 for v in values)


def test_grammar_fixes_keys_count_and_categories():
    space = SearchSpace.from_tune({"opt": tune.choice(["sgd", None, [1, 2]]), "n": {"k": tune.randint(1, 4)}})
    grammar = answer_grammar(space, 3)
    assert grammar.startswith("%llguidance {}\n")
    start = next(line for line in grammar.splitlines() if line.startswith("start:"))
    assert start.count(" config ") == 3
    assert '"\\"sgd\\""' in grammar and '"null"' in grammar and '"[1,2]"' in grammar
    assert re.search(r'p1: "1" \| "2" \| "3"$', grammar, re.M)
    assert '",\\"n/k\\":"' in grammar
