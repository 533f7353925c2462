"""Architecture search: written networks join the architecture parameter; configs carry their code."""

from __future__ import annotations

import json
import re

import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.code_writer import CodeWriter
from llm_search.arch.sandbox import ValidationReport
from llm_search.arch.search import ArchitectureConfig, ArchitectureProposer
from llm_search.arch.store import code_hash
from llm_search.backends.scripted import ScriptedBackend
from llm_search.history import History
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

TASK = ArchTask("digits: 8x8 grey images, 10 classes", (1, 8, 8), 10)
SOURCE = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
LABEL = f"code:{code_hash(SOURCE)}"
SPACE = SearchSpace.from_tune({"model": tune.choice(["flawed_cnn", "resnet9"]), "lr": tune.loguniform(1e-4, 1e-1)})


def passing(source, **_):
    return ValidationReport(True, "done", params=1234, flops_per_example=5678, output_shape=[8, 10])


def failing(source, **_):
    return ValidationReport(False, "forward", "RuntimeError: boom", "exception")


def history_of(n: int) -> History:
    history = History("val_acc", "max")
    for i in range(n):
        history.start(f"t{i}", {"model": ["flawed_cnn", "resnet9"][i % 2], "lr": 1e-3}, "llm")
        history.add_result(f"t{i}", {"val_acc": 0.5 + i / 100, "grad_norm/total": 1.0, "grad_norm/conv1": 1e-9})
        history.complete(f"t{i}")
    return history


def proposer_with(code_answers, validate=passing, **config):
    llm_backend = ScriptedBackend(default='{"configs": [{"model": "flawed_cnn", "lr": 0.001}]}')
    code_backend = ScriptedBackend(code_answers)
    writer = CodeWriter(code_backend, validate=validate, max_fix_rounds=0)
    arch = ArchitectureProposer(LLMProposer(llm_backend), ArchitectureConfig(TASK, **config), writer)
    return arch, llm_backend, code_backend


def test_a_written_network_becomes_a_choice_and_its_config_carries_the_code():
    arch, llm_backend, code_backend = proposer_with([f"```python\n{SOURCE}```"], first_after=4)
    arch.propose(SPACE, history_of(3), 1, seed=0)
    assert code_backend.history == []  # not due before 4 finished trials
    arch.propose(SPACE, history_of(4), 1, seed=1)
    assert len(code_backend.history) == 1 and list(arch.sources) == [LABEL]
    prompt = llm_backend.history[-1]["messages"][1]["content"]
    assert f'- model: one of ["flawed_cnn", "resnet9", "{LABEL}"]' in prompt
    assert f"- {LABEL}: 1,234 parameters, 5,678 FLOPs per example" in prompt
    assert arch.expand({"model": LABEL, "lr": 0.01}) == {
        "model": "code",
        "lr": 0.01,
        "arch_code": SOURCE,
        "arch_hash": code_hash(SOURCE),
    }
    assert arch.expand({"model": "resnet9", "lr": 0.01}) == {"model": "resnet9", "lr": 0.01}


def test_the_writer_reads_each_architectures_best_result_and_gradient_diagnosis():
    arch, _, code_backend = proposer_with([f"```python\n{SOURCE}```"], first_after=2)
    arch.propose(SPACE, history_of(6), 1, seed=0)
    prompt = code_backend.history[0]["messages"][1]["content"]
    assert "- resnet9: 3 trials, best val_acc=0.55" in prompt and "- flawed_cnn: 3 trials, best val_acc=0.54" in prompt
    assert "gradients of its best trial:" in prompt and "conv1" in prompt


def test_a_model_that_cannot_write_valid_code_is_asked_a_bounded_number_of_times():
    arch, _, code_backend = proposer_with(
        [f"```python\n{SOURCE}```"] * 20, validate=failing, first_after=1, redesign_every=1, max_generated=2
    )
    for n in range(1, 12):
        arch.propose(SPACE, history_of(n), 1, seed=n)
    assert arch.sources == {} and len(code_backend.history) == 4  # 2 * max_generated attempts
    assert arch.report()["network_write_failures"] == 4


def test_state_round_trip_keeps_the_written_networks():
    arch, _, _ = proposer_with([f"```python\n{SOURCE}```"], first_after=1)
    arch.propose(SPACE, history_of(2), 1, seed=0)
    restored, _, _ = proposer_with([])
    restored.set_state(json.loads(json.dumps(arch.get_state())))
    assert restored.expand({"model": LABEL})["arch_code"] == SOURCE


def test_a_space_without_the_parameter_is_a_clear_error():
    with pytest.raises(ValueError, match="no categorical parameter 'model'"):
        LLMSearcher(
            {"lr": tune.loguniform(1e-4, 1e-1)}, backend=ScriptedBackend(), architectures=ArchitectureConfig(TASK)
        )


def test_in_the_hybrid_the_optimizer_tunes_the_written_networks_too():
    llm = LLMProposer(ScriptedBackend(default='{"configs": [{"model": "flawed_cnn", "lr": 0.001}]}'))
    hybrid = HybridProposer(llm, HybridConfig(llm_share=0.0, adaptive_share=False, n_startup_trials=1), seed=0)
    writer = CodeWriter(ScriptedBackend([f"```python\n{SOURCE}```"]), validate=passing, max_fix_rounds=0)
    arch = ArchitectureProposer(hybrid, ArchitectureConfig(TASK, first_after=6), writer)  # after 2 rounds
    history = history_of(4)
    picked = []
    for round_number in range(40):  # the optimizer alone proposes (llm_share 0)
        (proposal,) = arch.propose(SPACE, history, 1, seed=round_number)
        assert proposal.source.value == "optimizer"
        picked.append(proposal.config["model"])
        trial_id = f"n{round_number}"
        history.start(trial_id, proposal.config, "optimizer")
        arch.on_trial_start(trial_id, proposal)
        history.complete(trial_id, {"val_acc": 0.9 if proposal.config["model"] == LABEL else 0.5})
    assert LABEL in picked  # the written network is among the optimizer's choices...
    assert picked[-10:].count(LABEL) >= 5  # ...and, scoring best, the one TPE settles on
    assert len(hybrid.optimizer(arch.extend_space(SPACE)).trials) == len(history.finished())


def tune_on_digits(trainable, searcher, storage) -> tune.ResultGrid:
    """4 one-epoch trials on scikit-learn's digits, one at a time, the architecture starting as flawed_cnn."""
    space = {
        "dataset": "digits",
        "device": "cpu",
        "epochs": 1,
        "batch_size": 64,
        "optimizer": "adam",
        "schedule": "constant",
        "model": tune.choice(["flawed_cnn"]),
        "learning_rate": tune.loguniform(1e-3, 1e-1),
    }
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=searcher, metric="val_acc", mode="max", num_samples=4, max_concurrent_trials=1
        ),
        run_config=tune.RunConfig(storage_path=str(storage), name="arch", verbose=0),
    ).fit()


def pick_written_network(messages, options):
    """A proposer that always takes the newest written network, else flawed_cnn."""
    labels = re.findall(r'"(code:[0-9a-f]{16})"', messages[1]["content"])
    return json.dumps({"configs": [{"model": labels[-1] if labels else "flawed_cnn", "learning_rate": 0.01}]})


@pytest.mark.integration
@pytest.mark.usefixtures("ray_session")
def test_tune_trains_a_written_network_on_real_data(tmp_path):
    pytest.importorskip("torch")
    from llm_search.arch import sandbox
    from trainables import train_image_classifier

    network = """import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))
"""
    limits = sandbox.SandboxLimits(cpu_s=30, wall_s=120)

    def validate(source, **kwargs):
        return sandbox.validate_model_code(source, limits=limits, **kwargs)

    searcher = LLMSearcher(
        backend=ScriptedBackend(default=pick_written_network),
        strategy="llm",
        roles={"code_writer": ScriptedBackend([f"```python\n{network}```"])},
        architectures=ArchitectureConfig(TASK, first_after=2),
        prefetch=0,
        seed=0,
    )
    results = tune_on_digits(tune.with_parameters(train_image_classifier, validate=validate), searcher, tmp_path)
    coded = [r for r in results if r.config.get("model") == "code"]
    assert coded, [r.config.get("model") for r in results]
    assert all(r.error is None and r.config["arch_hash"] == code_hash(network) for r in coded)
    assert all(r.metrics["val_acc"] > 0.2 for r in coded)
    assert searcher.stats["networks_written"] == 1
