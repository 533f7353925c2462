"""A prompt longer than the model's context window: the proposer lists fewer trials from then on."""

from __future__ import annotations

import logging

from llm_search.backends.base import ContextOverflowError
from llm_search.backends.scripted import ScriptedBackend
from llm_search.proposal import ProposalSource
from llm_search.proposer import MIN_LISTED_TRIALS, LLMProposer
from tests.unit.test_model_defaults import SPACE, finished_history


class SizedBackend(ScriptedBackend):
    """Answers like a model whose context holds ``context`` characters: a longer prompt is refused
    the way llama.cpp refuses it (the error carries the prompt's size and the window's)."""

    def __init__(self, context: int):
        super().__init__(default='{"configs": [{"x": 0.123}]}')
        self.context = context
        self.history_trials = 30
        self.prompt_sizes: list[int] = []

    def complete(self, messages, **options):
        size = sum(len(m["content"]) for m in messages)
        self.prompt_sizes.append(size)
        if size > self.context:
            raise ContextOverflowError(size, self.context)
        return super().complete(messages, **options)


def full_prompt_size() -> int:
    """The size of the 40-trial history's prompt with 30 trials listed."""
    backend = SizedBackend(context=10**9)
    LLMProposer(backend).propose(SPACE, finished_history(40), 1, seed=0)
    return backend.prompt_sizes[0]


def listed_trials(backend: SizedBackend) -> int:
    text = backend.history[-1]["messages"][1]["content"]
    return sum(1 for line in text.splitlines() if line.startswith("#"))


def test_after_an_overflow_the_prompts_list_fewer_trials_and_fit(caplog):
    backend = SizedBackend(context=int(0.85 * full_prompt_size()))
    proposer = LLMProposer(backend)
    history = finished_history(40)
    with caplog.at_level(logging.WARNING):
        sources = [proposer.propose(SPACE, history, 1, seed=seed)[0].source for seed in range(6)]
    # the overflowing rounds go on without the LLM; each shortens the list until the prompt fits
    overflows = sources.index(ProposalSource.LLM)
    assert 1 <= overflows <= 3 and set(sources[:overflows]) == {ProposalSource.RANDOM}
    assert set(sources[overflows:]) == {ProposalSource.LLM}
    assert "Prompts now list" in caplog.text and "n_ctx=" in caplog.text and "context={'trials': N}" in caplog.text
    assert backend.prompt_sizes[0] > backend.context >= backend.prompt_sizes[-1]
    assert MIN_LISTED_TRIALS <= proposer.limits.trials < 30
    assert listed_trials(backend) <= proposer.limits.trials


def test_the_shorter_list_survives_a_restore():
    context = int(0.85 * full_prompt_size())
    proposer = LLMProposer(SizedBackend(context))
    for seed in range(4):  # until the list fits
        proposer.propose(SPACE, finished_history(40), 1, seed=seed)
    restored = LLMProposer(SizedBackend(context))
    restored.set_state(proposer.get_state())
    assert restored.limits.trials == proposer.limits.trials < 30
    assert [p.source for p in restored.propose(SPACE, finished_history(40), 1, seed=1)] == [ProposalSource.LLM]


def test_a_context_too_small_for_any_list_warns_and_the_search_goes_on(caplog):
    backend = SizedBackend(context=100)
    proposer = LLMProposer(backend)
    with caplog.at_level(logging.WARNING):
        for seed in range(3):
            assert [p.source for p in proposer.propose(SPACE, finished_history(40), 1, seed=seed)] == [
                ProposalSource.RANDOM
            ]
    assert proposer.limits.trials == MIN_LISTED_TRIALS and proposer.available
    assert "even with 8 trials listed" in caplog.text and "n_ctx=" in caplog.text
