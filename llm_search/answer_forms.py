"""What the LLM writes when it proposes: whole configurations, or edits of the best trial.

Both forms answer one interface (the prompt's closing request, the re-ask line, the JSON schema, the
decoding grammar, the token budget, the parser), so a proposal round is the same code for either.

Example:
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace, IntParam
    >>> space = SearchSpace([IntParam("k", 1, 9)])
    >>> history = History("loss", "min")
    >>> type(answer_form("edits", space, history)).__name__  # no result yet: nothing to edit
    'ConfigForm'
    >>> history.start("t0", {"k": 5}, "llm"); history.complete("t0", {"loss": 1.0})
    >>> answer_form("edits", space, history).request(1, "loss")[0][:36]
    'Propose 1 edit of the best trial #1:'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from llm_search.edits import EditForm
from llm_search.grammar import answer_grammar
from llm_search.history import History
from llm_search.parsing import ParseResult, parse_answer
from llm_search.prompts import config_request, config_retry, render_config
from llm_search.space import SearchSpace

FORMS = ("configs", "edits")


@dataclass(frozen=True)
class ConfigForm:
    """Whole configurations: ``{"configs": [{...every parameter...}]}``."""

    space: SearchSpace

    def request(self, n: int, metric: str) -> list[str]:
        return config_request(self.space, n, metric)

    def retry(self, n: int) -> str:
        return config_retry(n)

    def schema(self, n: int) -> dict:
        return self.space.json_schema(n)

    def grammar(self, n: int, exclude: Iterable[str] = ()) -> str:
        """On finite grids the grammar cannot write an ``exclude``d (tried or queued) configuration."""
        return answer_grammar(self.space, n, exclude=exclude)

    def max_tokens(self, n: int) -> int:
        """Enough tokens for ``n`` configs in compact JSON (about 3 characters per token), with margin."""
        sample = render_config(self.space, self.space.sample(np.random.default_rng(0)))
        return int(32 + n * (len(sample) / 2.5 + 12) * 1.5)

    def parse(self, text: str, seen: set[str] | None = None, limit: int | None = None) -> ParseResult:
        return parse_answer(text, self.space, seen=seen, limit=limit)


def answer_form(form: str, space: SearchSpace, history: History, seen: Iterable[str] = ()) -> ConfigForm | EditForm:
    """The next answer's form: edits of the best trial when ``form == "edits"`` and one is left to write,
    else whole configs (before any result, or when every near edit of the best gives a ``seen``
    configuration: the best is a local optimum of the edits, and whole configs leave it)."""
    best = history.best(1) if form == "edits" else []
    if best:
        edits = EditForm(space, best[0].config, number=history.finished().index(best[0]) + 1)
        if edits.writable(seen):
            return edits
    return ConfigForm(space)
