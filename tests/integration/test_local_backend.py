"""The embedded backend on the real SmolLM2 model (the quickest embedded model; the default, the 0.5B
Qwen coder, runs in tests/integration/test_tune_end_to_end.py): one load per process, bounds held by the grammar."""

from __future__ import annotations

import logging
import os
import pickle

import numpy as np
import pytest
from ray import tune

from llm_search.backends import PermanentBackendError, local
from llm_search.backends.base import ContextOverflowError
from llm_search.backends.local import LocalBackend
from llm_search.grammar import answer_grammar
from llm_search.history import History
from llm_search.parsing import parse_answer
from llm_search.prompts import build_messages
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

pytestmark = pytest.mark.integration

SPACE = SearchSpace.from_tune(
    {
        "learning_rate": tune.loguniform(3e-5, 2e-2),
        "momentum": tune.uniform(0.8, 0.99),
        "batch_size": tune.qrandint(16, 256, 16),
        "optimizer": tune.choice(["sgd", "adam", None]),
    }
)


def test_grammar_keeps_every_generated_config_valid():
    backend = LocalBackend("smollm2")
    messages = build_messages(space=SPACE, history=History("loss", "min"), n_configs=4)
    accepted, distinct = 0, set()
    for seed in range(5):
        completion = backend.complete(
            messages, grammar=answer_grammar(SPACE, 4), seed=seed, temperature=1.0, max_tokens=300
        )
        result = parse_answer(completion.text, SPACE)
        assert not result.rejections and not result.error and not result.repairs, completion.text
        accepted += len(result.accepted) + result.duplicates
        distinct |= {SPACE.key(c) for c in result.accepted}
        assert completion.prompt_tokens > 100 and completion.completion_tokens > 10
    assert accepted == 20 and len(distinct) >= 5


OPS = ("none", "skip", "conv1x1", "conv3x3")


def test_on_a_finite_grid_the_real_model_writes_only_configs_not_yet_tried():
    """llama.cpp's llguidance reads the exclusion trie; the model, asked to repeat a tried cell, cannot."""
    cells = SearchSpace.from_tune({f"Op{i}": tune.choice(OPS) for i in range(3)})
    history = History("acc", "max")
    tried = [{"Op0": a, "Op1": b, "Op2": "conv3x3"} for a in OPS for b in ("none", "skip")]
    for number, config in enumerate(tried):
        history.start(str(number), config, "random")
        history.complete(str(number), {"acc": 90.0 if config["Op0"] == "conv3x3" else 50.0})
    every = [{"Op0": a, "Op1": b, "Op2": c} for a in OPS for b in OPS for c in OPS]
    untried = [config for config in every if config["Op0"] == "conv3x3" and config["Op2"] == "none"]
    seen = {cells.key(config) for config in every} - {cells.key(config) for config in untried}  # tried or queued
    messages = build_messages(space=cells, history=history, n_configs=1)
    messages[-1]["content"] += "\nRepeat the best trial exactly."
    backend = LocalBackend("smollm2")
    for seed in range(4):
        completion = backend.complete(
            messages, grammar=answer_grammar(cells, 1, exclude=seen), seed=seed, temperature=1.0, max_tokens=80
        )
        result = parse_answer(completion.text, cells, seen=seen)
        assert len(result.accepted) == 1 and result.duplicates == 0 and not result.rejections, completion.text
        assert result.accepted[0] in untried


def test_model_loads_once_per_process_and_backends_pickle_without_it(caplog):
    first, second = LocalBackend("smollm2"), LocalBackend("smollm2")
    with caplog.at_level(logging.INFO, logger=local.__name__):
        first.complete([{"role": "user", "content": "hi"}], max_tokens=2)
        second.complete([{"role": "user", "content": "hi"}], max_tokens=2)
    # An earlier test of this process may have loaded it already (no load here); two backends never load it twice.
    file_name = os.path.basename(local.resolve_model_path(first.model_spec))
    loads = [r for r in caplog.records if r.getMessage().startswith(f"Loaded {file_name} ")]
    assert len(loads) <= 1
    clone = pickle.loads(pickle.dumps(first))
    assert "server" not in repr(vars(clone)).lower()
    assert clone.complete([{"role": "user", "content": "hi"}], max_tokens=2).model.startswith("SmolLM2")


def test_missing_model_file_names_the_fix():
    with pytest.raises(PermanentBackendError, match="local:<path-to-model.gguf>"):
        LocalBackend("/nonexistent/model.gguf").complete([{"role": "user", "content": "hi"}])


def test_a_grown_history_reuses_the_cached_prompt_prefix():
    """One more finished trial appends to the prompt, so llama.cpp serves the rest from its cache."""
    backend = LocalBackend("smollm2")
    history = History("loss", "min")
    for i in range(6):
        config = {"learning_rate": 1e-3 * (i + 1), "momentum": 0.9, "batch_size": 64, "optimizer": "adam"}
        history.start(f"t{i}", config, "llm")
        history.complete(f"t{i}", {"loss": 1.0 / (i + 1)})
        completion = backend.complete(build_messages(space=SPACE, history=history, n_configs=2), max_tokens=1)
    # Reused: the task, the space and the trials listed before (measured: 431 of 888 tokens at the 6th
    # call). Processed: the new trial line and the tail that changes every call (counts, best trial,
    # per-parameter evidence, request): ~450 tokens at 4 parameters with SmolLM2's tokenizer.
    assert completion.cached_prompt_tokens >= 400
    assert completion.prompt_tokens - completion.cached_prompt_tokens < 600


EXIT_MID_GENERATION = """
import threading, time
from llm_search.backends.local import LocalBackend
backend = LocalBackend("smollm2")
backend.complete([{"role": "user", "content": "hi"}], max_tokens=2)
story = [{"role": "user", "content": "Write a long story about a dragon."}]
threading.Thread(target=lambda: backend.complete(story, max_tokens=120), daemon=True).start()
time.sleep(0.5)  # the searcher's background round is inside llama.cpp when the script ends
"""


def test_a_script_ending_mid_generation_exits_cleanly():
    import subprocess
    import sys

    # Without the exit guard this crashed with SIGSEGV in about half the runs.
    codes = [subprocess.run([sys.executable, "-c", EXIT_MID_GENERATION], timeout=120).returncode for _ in range(4)]
    assert codes == [0, 0, 0, 0]


def test_a_prompt_longer_than_the_context_shortens_the_list_and_the_search_goes_on(caplog):
    # The real refusal: llama.cpp answers a too-long prompt with an error, not a truncated answer.
    backend = LocalBackend("smollm2", n_ctx=1536)
    history = History("loss", "min")
    rng = np.random.default_rng(0)
    for i in range(40):
        history.start(f"t{i}", SPACE.sample(rng), "llm")
        history.complete(f"t{i}", {"loss": float(rng.uniform())})
    with pytest.raises(ContextOverflowError, match="context window of 1536"):
        backend.complete(build_messages(space=SPACE, history=history, n_configs=1), max_tokens=8)
    proposer = LLMProposer(backend)  # SmolLM2's prompts list 20 trials: about 1,650 tokens here
    with caplog.at_level(logging.WARNING):
        sources = [proposer.propose(SPACE, history, 1, seed=seed)[0].source.value for seed in range(3)]
    assert sources == ["random", "llm", "llm"]
    assert "Prompts now list" in caplog.text and proposer.limits.trials < 20
