"""LLM text -> validated configurations, with a reason for everything that was dropped.

The answer is untrusted: it may be wrapped in prose or code fences, truncated, hostile (huge,
deeply nested, non-finite numbers), out of range or a duplicate. Every config is validated
against the space (cast, clip, snap or reject); duplicates of tried, queued or sibling configs
are dropped. Nothing here raises on bad input.

Example:
    >>> from llm_search.space import SearchSpace, FloatParam
    >>> space = SearchSpace([FloatParam("x", 0.0, 1.0)])
    >>> result = parse_answer('Sure! ```json\\n{"configs": [{"x": 0.5}, {"x": "oops"}]}\\n```', space)
    >>> result.accepted, result.rejections
    ([{'x': 0.5}], ["config 2: x: expected a number, got the text 'oops'"])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from llm_search.space import SearchSpace

MAX_ANSWER_CHARS = 200_000  # a longer answer is cut before parsing
MAX_CONFIGS_READ = 64  # never look at more configs than this in one answer
MAX_DECODE_ATTEMPTS = 64  # embedded-JSON scan: bounded, so a hostile answer cannot cost minutes


@dataclass
class ParseResult:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)  # why a config (or the answer) was dropped
    repairs: list[str] = field(default_factory=list)  # casts, clips, snaps that were applied
    duplicates: int = 0
    n_read: int = 0  # configs found in the answer
    error: str | None = None  # the answer as a whole could not be read

    @property
    def problems_for_llm(self) -> list[str]:
        items = ([self.error] if self.error else []) + self.rejections
        if self.duplicates:
            items.append(f"{self.duplicates} config(s) repeated a tried or queued config")
        return items


def json_values(text: str) -> Iterable[Any]:
    """JSON values found in ``text``: the whole text first, then each embedded object/array."""
    try:
        yield json.loads(text)
        return
    except (ValueError, RecursionError):
        pass
    decoder = json.JSONDecoder()
    position = 0
    for _ in range(MAX_DECODE_ATTEMPTS):
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            position = start + 1
            continue
        yield value
        position = end


def extract_configs(text: str) -> tuple[list[Any], str | None]:
    """The list of candidate configs in an answer, or an error saying why there is none."""
    if not isinstance(text, str) or not text.strip():
        return [], "the answer was empty"
    text = text[:MAX_ANSWER_CHARS]
    for value in json_values(text):
        if isinstance(value, dict) and isinstance(value.get("configs"), list):
            return value["configs"][:MAX_CONFIGS_READ], None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value[:MAX_CONFIGS_READ], None
        if isinstance(value, dict) and value and "configs" not in value:
            return [value], None
    return [], 'no JSON object of the form {"configs": [...]} was found (truncated or not JSON)'


def parse_answer(text: str, space: SearchSpace, seen: set[str] | None = None, limit: int | None = None) -> ParseResult:
    """Validate the configs in ``text``; ``seen`` holds :meth:`SearchSpace.key` of configs to avoid.

    ``seen`` is not modified. At most ``limit`` configs are accepted.
    """
    result = ParseResult()
    candidates, result.error = extract_configs(text)
    result.n_read = len(candidates)
    validate_configs(enumerate(candidates, 1), space, result, seen=seen, limit=limit)
    return result


def validate_configs(
    numbered: Iterable[tuple[int, Any]],
    space: SearchSpace,
    result: ParseResult,
    *,
    seen: set[str] | None = None,
    limit: int | None = None,
    label: str = "config",
) -> None:
    """Validate numbered candidate configs into ``result``: accepted, rejected (``"<label> <number>: why"``),
    repaired or duplicates of ``seen`` (not modified) and of each other; at most ``limit`` accepted."""
    keys = set(seen or ())
    for index, candidate in numbered:
        if limit is not None and len(result.accepted) >= limit:
            break
        flat, problems = space.validate(candidate)
        fatal = [str(p) for p in problems if p.fatal]
        if flat is None:
            result.rejections.append(f"{label} {index}: " + "; ".join(fatal))
            continue
        result.repairs.extend(f"{label} {index}: {p}" for p in problems if not p.fatal and p.kind != "ignored")
        key = space.key(flat)
        if key in keys:
            result.duplicates += 1
            continue
        keys.add(key)
        result.accepted.append(flat)
