"""Judge and rank modes: the LLM picks the most promising of a few candidate configs.

A small model may be better at judging than at generating: choosing among a few valid candidates
needs no knowledge of bounds or scales. The answer is ``{"choices": [i, j, ...]}`` (candidate
indices), constrained by a grammar where the backend supports one.

Example:
    >>> parse_choices('{"choices": [2, 2, 7, 0]}', n_candidates=4, k=2)
    ([2, 0], ['index 2 repeated', 'index 7 is not a candidate (0..3)'])
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from llm_search.evidence import EvidenceTable
from llm_search.history import History
from llm_search.parsing import extract_configs
from llm_search.prompts import SYSTEM_PROMPT, ContextLimits, build_messages, render_config
from llm_search.space import SearchSpace

REFERENCE_TRIALS = 3  # a candidate near one of these best trials is written as its changes


def describe_candidate(
    space: SearchSpace, candidate: Mapping[str, Any], references: Sequence[tuple[int, Mapping]]
) -> str:
    """A candidate as ``#4 with lr=0.01 (was 0.001)`` when it differs from a listed best trial in one
    or two parameters, else in full.

    The short form costs a fraction of the tokens and says what a small model has to judge: which
    good trial is changed, and how.

    Example:
        >>> from ray import tune
        >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "depth": tune.choice([1, 2, 3])})
        >>> describe_candidate(space, {"lr": 0.01, "depth": 2}, [(4, {"lr": 0.001, "depth": 2})])
        '#4 with lr=0.01 (was 0.001)'
        >>> describe_candidate(space, {"lr": 0.01, "depth": 3}, [(4, {"lr": 0.001, "depth": 2})])
        '#4 with lr=0.01 (was 0.001), depth=3 (was 2)'
        >>> describe_candidate(space, {"lr": 0.01, "depth": 3}, [])
        '{"lr": 0.01, "depth": 3}'
    """
    closest: tuple[int, Mapping[str, Any], list[str]] | None = None
    for number, config in references:
        changed = [
            name
            for name in space.names
            if name in candidate
            and (name not in config or space[name].key(candidate[name]) != space[name].key(config[name]))
        ]
        if (
            len(changed) <= 2
            and all(name in config for name in changed)
            and (closest is None or len(changed) < len(closest[2]))
        ):
            closest = (number, config, changed)
    if closest is None or not closest[2]:
        return render_config(space, candidate)
    number, reference, changed = closest

    def value(config: Mapping[str, Any], name: str) -> str:
        return render_config(space, {name: config[name]}).split(": ", 1)[1][:-1]

    moves = [f"{name}={value(candidate, name)} (was {value(reference, name)})" for name in changed]
    return f"#{number} with " + ", ".join(moves)


def _references(history: History) -> list[tuple[int, Mapping]]:
    """The best finished trials with their numbers in the prompt's trial list."""
    numbers = {id(r): i for i, r in enumerate(history.finished(), 1)}
    return [(numbers[id(r)], r.config) for r in history.best(REFERENCE_TRIALS) if id(r) in numbers]


def build_choice_messages(
    *,
    space: SearchSpace,
    history: History,
    candidates: Sequence[Mapping[str, Any]],
    k: int,
    task: str | None,
    limits: ContextLimits,
    notes: Sequence[str] = (),
    evidence: EvidenceTable | None = None,
) -> list[dict[str, str]]:
    """The history prompt, with the request replaced by 'pick k of these candidates'."""
    base = build_messages(
        space=space, history=history, n_configs=k, task=task, limits=limits, notes=notes, evidence=evidence
    )
    context = base[1]["content"].rsplit("\nPropose ", 1)[0]
    references = _references(history)
    listed = "\n".join(f"{i}. {describe_candidate(space, c, references)}" for i, c in enumerate(candidates))
    request = (
        f"Candidates, untried ({len(candidates)} configurations):\n{listed}\n\n"
        f"Pick the {k} candidate{'s' if k > 1 else ''} most likely to improve {history.metric or 'the objective'}, "
        f'best first. Answer with JSON only: {{"choices": [...]}} holding {k} distinct candidate number'
        f"{'s' if k > 1 else ''} from 0 to {len(candidates) - 1}."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": context + "\n" + request}]


def choice_schema(n_candidates: int, k: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "choices": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": n_candidates - 1},
                "minItems": k,
                "maxItems": k,
            }
        },
        "required": ["choices"],
    }


def choice_grammar(n_candidates: int, k: int) -> str:
    index = " | ".join(json.dumps(str(i)) for i in range(n_candidates))
    items = ' "," '.join(["index"] * k)
    return f'%llguidance {{}}\nstart: "{{\\"choices\\":[" {items} "]}}"\nindex: {index}\n'


def parse_choices(text: str, n_candidates: int, k: int) -> tuple[list[int], list[str]]:
    """Valid, distinct candidate indices from an answer (at most ``k``), and what was wrong."""
    problems: list[str] = []
    raw: list[Any] = []
    try:
        value = json.loads(text)
        raw = value.get("choices", []) if isinstance(value, dict) else value if isinstance(value, list) else []
    except (ValueError, RecursionError):
        found, error = extract_configs(text)
        raw = found[0].get("choices", []) if found and isinstance(found[0], dict) else []
        if error:
            problems.append(error)
    picked: list[int] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            problems.append(f"{item!r} is not a candidate number")
            continue
        try:
            index = int(float(item))
        except ValueError:
            problems.append(f"{item!r} is not a candidate number")
            continue
        if not 0 <= index < n_candidates:
            problems.append(f"index {index} is not a candidate (0..{n_candidates - 1})")
        elif index in picked:
            problems.append(f"index {index} repeated")
        elif len(picked) < k:
            picked.append(index)
    return picked, problems
