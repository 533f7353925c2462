"""Typed, validated configuration of the image-classification trainable.

Tune hands the trainable a plain dict (possibly proposed by an LLM); `TrainConfig.from_dict` turns it
into a frozen dataclass, rejecting unknown keys and out-of-range values with messages that name the
key and the valid choices, so an errored trial explains itself. Torch-free: cheap to import.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import numbers
import os
import re
from collections.abc import Mapping
from typing import Any

from trainables.models.arch_spec import DEFAULT_ARCH, normalize_arch_spec, validate_arch_spec

DATASETS = ("fashion_mnist", "cifar10", "digits")
MODELS = ("flawed_cnn", "resnet9", "vit", "spec_cnn", "code")
OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")
# (channels, height, width) per data set: lets a config (and an arch spec) be checked before any data loads.
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
}
NUM_CLASSES = 10
# `width` / `depth` mean something different per model; None means the model's own default.
WIDTH_MODELS = ("flawed_cnn", "resnet9", "vit")
DEPTH_MODELS = ("vit",)
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Configuration of one image-classification trial.

    Attributes:
        dataset: "fashion_mnist", "cifar10" or "digits" (required).
        model: "flawed_cnn", "resnet9", "vit", "spec_cnn" or "code"; a dict is taken as a spec_cnn `arch`.
        arch: Architecture spec for spec_cnn (see `trainables.models.arch_spec`); None = its default.
        arch_code: For model "code": the source of an ``nn.Module`` whose constructor takes
            (in_channels, num_classes); carried in the config so any node can build it. It must pass
            the validator given to the trainable before it is built (`trainables.models.code_model`).
        arch_hash: The source's hash (first 16 hex digits of its SHA-256); checked when given.
        width: Base width (flawed_cnn conv channels, resnet9 first-stage channels, vit embedding size).
        depth: Transformer blocks (vit only).
        epochs: Number of epochs.
        max_train_batches: Cap on training batches per epoch (smoke runs); None = all.
        max_eval_batches: Cap on validation/test batches; None = all.
        optimizer: One of `OPTIMIZERS`.
        learning_rate: Peak learning rate.
        momentum: Momentum for sgd_momentum / sgd_nesterov (ignored by the others).
        weight_decay: L2 penalty (decoupled for adamw).
        batch_size: Training batch size.
        label_smoothing: Label smoothing of the training loss (validation loss never smooths).
        schedule: "constant", "step" (x0.1 at 50% and 75%), "cosine", "warmup_cosine".
        warmup_fraction: Share of all steps spent in linear warm-up (warmup_cosine only).
        grad_clip: Clip the global gradient norm to this value; None or 0 = off.
        dropout: Dropout before the classifier (and in the vit blocks).
        augment: Random flip + translate on cifar10 (other data sets are never augmented).
        seed: Seed of initialization, batch order, augmentation and dropout.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        compile: torch.compile the model (CUDA only; ignored elsewhere).
        amp: bf16 autocast (CUDA only; ignored elsewhere).
        data_dir: Directory of the data set files; None = environment variable or default location.
        val_fraction: Share of the training set held out for validation.
        split_seed: Seed of the validation split; fixed by default so all trials share one split.
        final_test: Evaluate on the test set after the last epoch (reported as test_loss/test_acc).

    Example:
        >>> cfg = TrainConfig.from_dict({"dataset": "digits", "model": "flawed_cnn", "epochs": 2})
        >>> cfg.batch_size
        128
    """

    dataset: str
    model: str = "resnet9"
    arch: dict[str, Any] | None = None
    arch_code: str | None = None
    arch_hash: str | None = None
    width: int | None = None
    depth: int | None = None
    epochs: int = 10
    max_train_batches: int | None = None
    max_eval_batches: int | None = None
    optimizer: str = "sgd_nesterov"
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    warmup_fraction: float = 0.1
    grad_clip: float | None = None
    dropout: float = 0.0
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    amp: bool = True
    data_dir: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    final_test: bool = False

    @classmethod
    def keys(cls) -> list[str]:
        """All valid config keys, in declaration order."""
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config from a Tune config dict.

        Args:
            config: The trial's config; unknown keys are an error.

        Returns:
            The validated, frozen config.

        Raises:
            ValueError: Listing every problem (unknown keys with the valid ones, bad values with
                their allowed range).

        Example:
            >>> TrainConfig.from_dict({"dataset": "digits", "lr": 0.1})
            Traceback (most recent call last):
            ...
            ValueError: invalid training config:
              - unknown key 'lr' (did you mean 'learning_rate'?); valid keys: dataset, model, ...
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"the training config must be a dict, got {type(config).__name__}")
        valid = cls.keys()
        errors = [_unknown_key_message(key, valid) for key in config if key not in valid]
        if "dataset" not in config:
            errors.append(f"missing required key 'dataset' (one of {list(DATASETS)})")
        if errors:
            raise ValueError(_format_errors(errors))
        return cls(**dict(config))

    def __post_init__(self) -> None:
        values, errors = _validate(dataclasses.asdict(self))
        if errors:
            raise ValueError(_format_errors(errors))
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-able); `from_dict(cfg.to_dict()) == cfg`."""
        return dataclasses.asdict(self)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the configured data set."""
        return INPUT_SHAPES[self.dataset]


def _format_errors(errors: list[str]) -> str:
    return "invalid training config:\n" + "\n".join(f"  - {message}" for message in errors)


# Common abbreviations that difflib cannot match to the full key name.
_ALIASES = {"lr": "learning_rate", "wd": "weight_decay", "bs": "batch_size", "opt": "optimizer", "arch_spec": "arch"}


def _unknown_key_message(key: Any, valid: list[str]) -> str:
    close = [_ALIASES[key]] if key in _ALIASES else difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"


class _Checker:
    """Collects coerced values and error messages for one config."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.values: dict[str, Any] = {}
        self.errors: list[str] = []

    def choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = self.raw[name]
        if value not in choices:
            self.errors.append(f"{name}: must be one of {list(choices)}, got {value!r}")
        self.values[name] = value

    def boolean(self, name: str) -> None:
        value = self.raw[name]
        # A numpy bool is neither bool nor Integral; recognise it by dtype rather than importing numpy here.
        numpy_bool = getattr(getattr(value, "dtype", None), "kind", "") == "b"
        boolean = isinstance(value, (bool, numbers.Integral)) or numpy_bool
        if not boolean or value not in (0, 1):
            self.errors.append(f"{name}: must be true or false, got {value!r}")
            self.values[name] = value
            return
        self.values[name] = bool(value)

    def integer(self, name: str, low: int, high: int, *, optional: bool = False) -> None:
        value = self.raw[name]
        if value is None and optional:
            self.values[name] = None
            return
        # Accept numpy integers and integral floats (quantized samplers, JSON from an LLM) but not 2.5.
        integral = isinstance(value, numbers.Integral) or (
            isinstance(value, numbers.Real) and float(value).is_integer()
        )
        if isinstance(value, bool) or not integral or not low <= int(value) <= high:
            none_hint = " or None" if optional else ""
            self.errors.append(f"{name}: must be an integer in [{low}, {high}]{none_hint}, got {value!r}")
            self.values[name] = value
            return
        self.values[name] = int(value)

    def real(self, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> None:
        value = self.raw[name]
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
        if not ok:
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            self.errors.append(f"{name}: must be a number in {interval}, got {self.raw[name]!r}")
        self.values[name] = value


def _validate(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    check = _Checker(raw)
    check.choice("dataset", DATASETS)
    _validate_model(check)
    check.integer("epochs", 1, 10_000)
    check.integer("max_train_batches", 1, 10**9, optional=True)
    check.integer("max_eval_batches", 1, 10**9, optional=True)
    check.choice("optimizer", OPTIMIZERS)
    check.real("learning_rate", 0.0, 100.0, low_open=True)
    check.real("momentum", 0.0, 1.0, high_open=True)
    check.real("weight_decay", 0.0, 1.0)
    check.integer("batch_size", 1, 65_536)
    check.real("label_smoothing", 0.0, 1.0, high_open=True)
    check.choice("schedule", SCHEDULES)
    check.real("warmup_fraction", 0.0, 1.0, high_open=True)
    if raw["grad_clip"] is None or (isinstance(raw["grad_clip"], numbers.Real) and raw["grad_clip"] == 0):
        check.values["grad_clip"] = None  # 0 means "off", like None
    else:
        check.real("grad_clip", 0.0, 1e6, low_open=True)
    check.real("dropout", 0.0, 1.0, high_open=True)
    check.boolean("augment")
    check.integer("seed", 0, 2**31 - 1)
    check.integer("split_seed", 0, 2**31 - 1)
    device = raw["device"]
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        check.errors.append(f"device: must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    check.values["device"] = device
    check.boolean("compile")
    check.boolean("amp")
    data_dir = raw["data_dir"]
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        check.errors.append(f"data_dir: must be a path or None, got {data_dir!r}")
    check.values["data_dir"] = os.fspath(data_dir) if isinstance(data_dir, (str, os.PathLike)) else data_dir
    check.real("val_fraction", 0.0, 0.5, low_open=True)
    check.boolean("final_test")
    return check.values, check.errors


def _validate_code(check: _Checker, model: Any) -> None:
    code, digest = check.raw["arch_code"], check.raw["arch_hash"]
    if model == "code":
        if not isinstance(code, str) or not code.strip():
            check.errors.append("arch_code: model 'code' needs the module's source as arch_code")
        elif digest is not None and digest != source_hash(code):
            check.errors.append(f"arch_hash: {digest!r} is not the hash of arch_code ({source_hash(code)!r})")
    elif code is not None or digest is not None:
        check.errors.append(f"arch_code/arch_hash: only used with model 'code', but model is {model!r}")
    check.values["arch_code"], check.values["arch_hash"] = code, digest


def source_hash(source: str) -> str:
    """First 16 hex digits of the SHA-256 of ``source`` (as ``llm_search.arch.store.code_hash``)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _validate_model(check: _Checker) -> None:
    """Model, arch, width and depth depend on each other; check them together."""
    model, arch = check.raw["model"], check.raw["arch"]
    if isinstance(model, Mapping):
        if arch is not None:
            check.errors.append("model: a spec dict was given as `model` and another as `arch`; give only one")
        model, arch = "spec_cnn", model
    check.raw = {**check.raw, "model": model}
    check.choice("model", MODELS)
    if arch is not None and model != "spec_cnn":
        check.errors.append(f"arch: only used with model 'spec_cnn', but model is {model!r}")
    if model == "spec_cnn":
        spec = DEFAULT_ARCH if arch is None else arch
        shape = INPUT_SHAPES.get(check.raw["dataset"])
        problems = validate_arch_spec(spec, input_shape=shape, num_classes=NUM_CLASSES)
        check.errors.extend(f"arch: {problem}" for problem in problems)
        arch = normalize_arch_spec(spec) if not problems else arch
    check.values["arch"] = arch
    _validate_code(check, model)
    for name, models, low, high in (("width", WIDTH_MODELS, 1, 1024), ("depth", DEPTH_MODELS, 1, 24)):
        if check.raw[name] is not None and model not in models:
            check.errors.append(f"{name}: only applies to models {list(models)}, not {model!r}")
        check.integer(name, low, high, optional=True)
