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


def _configs(grammar: str, n: int) -> list[dict]:
    rng = random.Random(0)
    return [json.loads(_sentence(grammar, rng))["configs"][0] for _ in range(n)]


def test_excluded_configs_cannot_be_written_and_every_other_one_can():
    space = SearchSpace.from_tune({"a": tune.choice(["x", "y"]), "b": tune.randint(1, 4), "c": tune.choice([0.1, 1])})
    every = [{"a": a, "b": b, "c": c} for a in ("x", "y") for b in (1, 2, 3) for c in (0.1, 1)]
    tried = every[::2]
    grammar = answer_grammar(space, 1, exclude=[space.key(config) for config in tried])
    written = {space.key(config) for config in _configs(grammar, 400)}
    assert written == {space.key(config) for config in every[1::2]}


def test_a_nas_cell_space_excludes_its_tried_cells():
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    space = SearchSpace.from_tune({f"Op{i}": tune.choice(ops) for i in range(6)})
    rng = random.Random(1)
    tried = [{f"Op{i}": rng.choice(ops) for i in range(6)} for _ in range(60)]
    tried += [{**tried[0], "Op5": op} for op in ops]  # a cell and all its neighbours on the last edge
    keys = {space.key(config) for config in tried}
    grammar = answer_grammar(space, 1, exclude=keys)
    assert not keys & {space.key(config) for config in _configs(grammar, 500)}


def test_with_every_config_excluded_or_a_wide_numeric_grid_nothing_is_excluded():
    small = SearchSpace.from_tune({"a": tune.choice(["x", "y"])})
    assert answer_grammar(small, 1, exclude=[small.key({"a": "x"}), small.key({"a": "y"})]) == answer_grammar(small, 1)
    wide = SearchSpace.from_tune({"lr": tune.loguniform(1e-5, 1e-1), "a": tune.choice(["x", "y"])})
    assert answer_grammar(wide, 1, exclude=[wide.key({"lr": 1e-3, "a": "x"})]) == answer_grammar(wide, 1)
