"""Grammar: every literal a number terminal admits is valid for the space."""

from __future__ import annotations

import json
import random
import re

from ray import tune

from llm_search.grammar import answer_grammar, number_grid
from llm_search.parsing import parse_answer
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
            flat, problems = space.validate(
                {**space.sample(__import__("numpy").random.default_rng(0)), param.name: value}
            )
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


def _sentence(grammar: str, rng: random.Random) -> str:
    """One answer the grammar admits: each rule expands to a randomly picked alternative."""
    token = re.compile(r'"(?:[^"\\]|\\.)*"|\w+|\|')
    rules = {}
    for line in grammar.splitlines()[1:]:
        name, body = line.split(": ", 1)
        alternatives: list[list[str]] = [[]]
        for tok in token.findall(body):
            if tok == "|":
                alternatives.append([])
            else:
                alternatives[-1].append(tok)
        rules[name] = alternatives

    def expand(name: str) -> str:
        alternative = rng.choice(rules[name])
        return "".join(json.loads(tok) if tok.startswith('"') else expand(tok) for tok in alternative)

    return expand("start")


def test_answers_the_grammar_admits_are_valid_with_dict_and_list_categories():
    space = SearchSpace.from_tune(
        {
            "model": tune.choice([{"layers": 2}, {"layers": 4, "act": "relu"}]),
            "widths": tune.choice([[32, 32], [64], []]),
            "train": {"lr": tune.loguniform(1e-4, 1e-1), "head": tune.choice([{"p": 0.1}, None])},
        }
    )
    grammar = answer_grammar(space, 3)
    assert '"{\\"layers\\":4,\\"act\\":\\"relu\\"}"' in grammar and '"[32,32]"' in grammar and '"[]"' in grammar
    rng = random.Random(0)
    for _ in range(30):
        result = parse_answer(_sentence(grammar, rng), space)
        assert not result.rejections and not result.error and not result.repairs, result
        assert len(result.accepted) + result.duplicates == 3
