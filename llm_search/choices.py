"""Judge and rank modes: the LLM picks the most promising of a few candidate configs.

A small model may be better at judging than at generating: choosing among a few valid candidates
needs no knowledge of bounds or scales. The candidates are labelled with letters and the answer is
``{"choices": ["C", "A", ...]}``, constrained by a grammar where the backend supports one.

Letters, not numbers: the prompt numbers the trials (``#16``) and writes a candidate near a good
trial as ``#16 with lr=...``, so a model asked for a candidate *number* wrote the trial's: the
0.5B model's unconstrained answer was ``[16]``, and the digit grammar cut it to candidate 1, the
pick in 44% of 206 logged calls (8 shuffled candidates: 12.5% by content alone).

Example:
    >>> parse_choices('{"choices": ["B", "B", "Z", "a"]}', n_candidates=4, k=2)
    ([1, 0], ['"B" repeated', '"Z" is not a candidate (A..D)'])
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
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # one token each; at most this many candidates in a prompt


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
    if len(candidates) > len(LABELS):
        raise ValueError(f"at most {len(LABELS)} candidates per prompt, got {len(candidates)}")
    listed = "\n".join(f"{LABELS[i]}. {describe_candidate(space, c, references)}" for i, c in enumerate(candidates))
    request = (
        f"Candidates, untried ({len(candidates)} configurations):\n{listed}\n\n"
        f"Pick the {k} candidate{'s' if k > 1 else ''} most likely to improve {history.metric or 'the objective'}, "
        f'best first. Answer with JSON only: {{"choices": [...]}} holding {k} distinct candidate letter'
        f"{'s' if k > 1 else ''} from A to {LABELS[len(candidates) - 1]}."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": context + "\n" + request}]


def choice_schema(n_candidates: int, k: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "choices": {
                "type": "array",
                "items": {"type": "string", "enum": list(LABELS[:n_candidates])},
                "minItems": k,
                "maxItems": k,
            }
        },
        "required": ["choices"],
    }


def choice_grammar(n_candidates: int, k: int) -> str:
    """The answer's grammar, spaced as models write JSON (``{"choices": ["B"]}``): forcing
    ``{"choices":[`` made the 0.5B model take a token it gives 0.05% (``":[`` for ``":`` + `` [``).

    Example:
        >>> print(choice_grammar(3, 2))
        %llguidance {}
        start: "{\\"choices\\": [" label ", " label "]}"
        label: "\\"A\\"" | "\\"B\\"" | "\\"C\\""
        <BLANKLINE>
    """
    label = " | ".join(json.dumps(json.dumps(letter)) for letter in LABELS[:n_candidates])
    items = ' ", " '.join(["label"] * k)
    return f'%llguidance {{}}\nstart: "{{\\"choices\\": [" {items} "]}}"\nlabel: {label}\n'


def parse_choices(text: str, n_candidates: int, k: int) -> tuple[list[int], list[str]]:
    """Valid, distinct candidate indices from an answer's letters (at most ``k``), and what was wrong."""
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
    labels = LABELS[:n_candidates]
    picked: list[int] = []
    for item in raw if isinstance(raw, list) else []:
        letter = item.strip().upper() if isinstance(item, str) else None
        if not letter or len(letter) != 1 or letter not in labels:
            problems.append(f"{json.dumps(item)} is not a candidate ({labels[0]}..{labels[-1]})")
        elif labels.index(letter) in picked:
            problems.append(f"{json.dumps(item)} repeated")
        elif len(picked) < k:
            picked.append(labels.index(letter))
    return picked, problems
