"""LLM-written model code through Tune: re-validated on the trial's node, trained on real data, failures reported."""

from __future__ import annotations

import pytest
from ray import tune

from llm_search.arch import sandbox
from llm_search.arch.store import code_hash
from trainables import train_image_classifier
from trainables.tune_image import CODE_NEEDS_VALIDATOR

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]
pytest.importorskip("torch")

CNN = """import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.block = Block(16)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.block(F.relu(self.stem(x)))
        return self.head(FLATTEN)
"""
WORKING = CNN.replace("FLATTEN", "x.mean(dim=(2, 3))")
# Passes the sandbox (its test batch has 8 examples) but fails on any other batch size in training.
BATCH_OF_EIGHT = CNN.replace("FLATTEN", "x.mean(dim=(2, 3)).reshape(8, 16)")
# nn.LazyLinear, which the prompts and the fixer's hints suggest: its weights exist only after a forward.
LAZY = WORKING.replace("nn.Linear(16, num_classes)", "nn.LazyLinear(num_classes)").replace(
    "x.mean(dim=(2, 3))", "x.flatten(1)"
)
LIMITS = sandbox.SandboxLimits(cpu_s=30, wall_s=120)


def validate(source, **kwargs):
    return sandbox.validate_model_code(source, limits=LIMITS, **kwargs)


def config(source: str, **overrides):
    base = {
        "dataset": "digits",
        "model": "code",
        "arch_code": source,
        "arch_hash": code_hash(source),
        "device": "cpu",
        "epochs": 2,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "schedule": "constant",
    }
    return {**base, **overrides}


def run(trainable, space, tmp_path, name):
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=name, verbose=0),
    ).fit()


@pytest.mark.parametrize("source", [WORKING, LAZY], ids=["linear", "lazy-linear"])
def test_validated_code_trains_on_real_data(tmp_path, source):
    trainable = tune.with_parameters(train_image_classifier, validate=validate)
    result = run(trainable, config(source), tmp_path, "ok")[0]
    assert result.error is None, result.error
    assert result.metrics["training_iteration"] == 2 and result.metrics["val_acc"] > 0.3  # digits: 10 classes
    assert result.metrics["grad_norm/head"] > 0  # the head's weights were trained and tracked


def test_a_runtime_error_in_training_fails_the_trial_with_its_traceback(tmp_path):
    assert validate(BATCH_OF_EIGHT, input_shape=(1, 8, 8), num_classes=10).ok  # the sandbox cannot see it
    results = run(
        tune.with_parameters(train_image_classifier, validate=validate), config(BATCH_OF_EIGHT), tmp_path, "bad"
    )
    error = str(results[0].error)
    assert "shape '[8, 16]' is invalid" in error and "<generated model>" in error


def test_code_is_refused_without_a_validator_or_with_a_wrong_hash(tmp_path):
    results = run(train_image_classifier, config(WORKING), tmp_path, "no-validator")
    assert CODE_NEEDS_VALIDATOR.split(":")[0] in str(results[0].error)
    trainable = tune.with_parameters(train_image_classifier, validate=validate)
    results = run(trainable, config(WORKING, arch_hash="0" * 16), tmp_path, "wrong-hash")
    assert "is not the hash of arch_code" in str(results[0].error)


def test_code_that_fails_validation_never_trains(tmp_path):
    hostile = "import os\n" + WORKING
    results = run(tune.with_parameters(train_image_classifier, validate=validate), config(hostile), tmp_path, "hostile")
    error = str(results[0].error)
    assert "failed validation" in error and "import of 'os' is not allowed" in error
    assert "training_iteration" not in (results[0].metrics or {})
