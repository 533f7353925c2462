"""JSON architecture specs for ``spec_cnn``: the schema, its bounds and a validator.

This module is torch-free on purpose: a searcher (or the LLM-facing code that proposes specs) can
validate a spec cheaply before any trial starts, and the trainable re-validates before building.

Schema (every field except ``blocks[].channels`` has a default)::

    {
      "blocks": [                      # 1..12 blocks, applied in order
        {"type": "conv",               # the only block type for now
         "channels": 32,               # output channels, 1..512
         "kernel": 3,                  # 1, 3, 5 or 7 ("same" padding)
         "stride": 1,                  # 1 or 2
         "activation": "relu",         # see ACTIVATIONS
         "batch_norm": true,
         "pool": "none",               # "max", "avg" or "none": 2x2 pooling after the block
         "residual": false}            # add a shortcut (1x1 projection when shapes differ)
      ],
      "head": {"pool": "avg",          # "avg", "max" (global pooling) or "flatten"
               "hidden": 0,            # hidden units before the classifier, 0..4096 (0 = none)
               "activation": "relu",
               "dropout": null}        # 0..0.9; null = the trial's `dropout` setting
    }

Example:
    >>> validate_arch_spec({"blocks": [{"type": "conv", "channels": 16, "kernel": 4}]})
    ['blocks[0].kernel: must be one of [1, 3, 5, 7], got 4']
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "identity")
BLOCK_TYPES = ("conv",)
KERNELS = (1, 3, 5, 7)
STRIDES = (1, 2)
POOLS = ("max", "avg", "none")
HEAD_POOLS = ("avg", "max", "flatten")
MAX_BLOCKS = 12
MAX_CHANNELS = 512
MAX_HIDDEN = 4096
MAX_DROPOUT = 0.9
# A spec with more parameters than this is almost certainly a mistake for the data sets here, and
# rejecting it early keeps a bad proposal from exhausting a worker's memory.
MAX_PARAMS = 20_000_000

BLOCK_DEFAULTS: dict[str, Any] = {
    "type": "conv",
    "kernel": 3,
    "stride": 1,
    "activation": "relu",
    "batch_norm": True,
    "pool": "none",
    "residual": False,
}
HEAD_DEFAULTS: dict[str, Any] = {"pool": "avg", "hidden": 0, "activation": "relu", "dropout": None}

DEFAULT_ARCH: dict[str, Any] = {
    "blocks": [
        {"type": "conv", "channels": 32, "kernel": 3, "activation": "relu", "batch_norm": True, "pool": "max"},
        {"type": "conv", "channels": 64, "kernel": 3, "activation": "relu", "batch_norm": True, "pool": "max"},
    ],
    "head": {"hidden": 64, "dropout": None},
}


def _is_int(value: Any) -> bool:
    # numbers.Integral also admits numpy integers, which Tune's samplers produce.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_choice(errors: list[str], where: str, value: Any, choices: Sequence[Any]) -> None:
    # bool is an int subclass: True must not pass as kernel 1.
    if isinstance(value, bool) or value not in choices:
        errors.append(f"{where}: must be one of {list(choices)}, got {value!r}")


def _check_int(errors: list[str], where: str, value: Any, low: int, high: int) -> None:
    if not _is_int(value) or not low <= value <= high:
        errors.append(f"{where}: must be an integer in [{low}, {high}], got {value!r}")


def _check_unknown(errors: list[str], where: str, spec: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in spec:
        if key not in allowed:
            errors.append(f"{where}: unknown key {key!r} (valid keys: {sorted(allowed)})")


def _validate_block(errors: list[str], index: int, block: Any) -> None:
    where = f"blocks[{index}]"
    if not isinstance(block, Mapping):
        errors.append(f"{where}: must be an object, got {type(block).__name__}")
        return
    _check_unknown(errors, where, block, [*BLOCK_DEFAULTS, "channels"])
    merged = {**BLOCK_DEFAULTS, **block}
    _check_choice(errors, f"{where}.type", merged["type"], BLOCK_TYPES)
    if "channels" not in block:
        errors.append(f"{where}.channels: required (an integer in [1, {MAX_CHANNELS}])")
    else:
        _check_int(errors, f"{where}.channels", block["channels"], 1, MAX_CHANNELS)
    _check_choice(errors, f"{where}.kernel", merged["kernel"], KERNELS)
    _check_choice(errors, f"{where}.stride", merged["stride"], STRIDES)
    _check_choice(errors, f"{where}.activation", merged["activation"], ACTIVATIONS)
    _check_choice(errors, f"{where}.pool", merged["pool"], POOLS)
    for flag in ("batch_norm", "residual"):
        if not isinstance(merged[flag], bool):
            errors.append(f"{where}.{flag}: must be true or false, got {merged[flag]!r}")


def _validate_head(errors: list[str], head: Any) -> None:
    if not isinstance(head, Mapping):
        errors.append(f"head: must be an object, got {type(head).__name__}")
        return
    _check_unknown(errors, "head", head, list(HEAD_DEFAULTS))
    merged = {**HEAD_DEFAULTS, **head}
    _check_choice(errors, "head.pool", merged["pool"], HEAD_POOLS)
    _check_int(errors, "head.hidden", merged["hidden"], 0, MAX_HIDDEN)
    _check_choice(errors, "head.activation", merged["activation"], ACTIVATIONS)
    dropout = merged["dropout"]
    if dropout is not None and (
        isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= MAX_DROPOUT
    ):
        errors.append(f"head.dropout: must be null or a number in [0, {MAX_DROPOUT}], got {dropout!r}")


def normalize_arch_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a *valid* spec with every default filled in.

    Args:
        spec: A spec that `validate_arch_spec` accepted.

    Returns:
        A plain dict (JSON-able) with all block and head fields present.

    Example:
        >>> normalize_arch_spec({"blocks": [{"channels": 8}]})["blocks"][0]["kernel"]
        3
    """
    return {
        "blocks": [{**BLOCK_DEFAULTS, **block} for block in spec["blocks"]],
        "head": {**HEAD_DEFAULTS, **spec.get("head", {})},
    }


def _walk(spec: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> tuple[list[str], int, int]:
    """Walk a normalized spec over an input shape: (errors of spatial collapse, parameters, forward FLOPs)."""
    errors = _collapse_errors(spec, input_shape)
    channels, height, width = input_shape
    params = flops = 0
    for block in spec["blocks"]:
        out, k = block["channels"], block["kernel"]
        if block["stride"] == 2:
            height, width = (height + 1) // 2, (width + 1) // 2
        weights = channels * out * k * k
        params += weights + (2 * out if block["batch_norm"] else out)
        flops += 2 * weights * height * width
        if block["residual"] and (out != channels or block["stride"] == 2):
            params += channels * out + out  # 1x1 projection shortcut
            flops += 2 * channels * out * height * width
        if block["pool"] != "none":
            height, width = (height + 1) // 2, (width + 1) // 2  # ceil-mode pooling
        channels = out
    head = spec["head"]
    features = channels * height * width if head["pool"] == "flatten" else channels
    if head["hidden"]:
        params += features * head["hidden"] + head["hidden"]
        flops += 2 * features * head["hidden"]
        features = head["hidden"]
    params += features * num_classes + num_classes
    flops += 2 * features * num_classes
    return errors, params, flops


def _collapse_errors(spec: Mapping[str, Any], input_shape: tuple[int, int, int]) -> list[str]:
    """A halving (stride 2 or pooling) of a map that is already 1 pixel wide."""
    height, width = input_shape[1:]
    for index, block in enumerate(spec["blocks"]):
        downsamples = int(block["stride"] == 2) + int(block["pool"] != "none")
        for _ in range(downsamples):
            if min(height, width) < 2:
                return [
                    f"blocks[{index}]: spatial size is already {height}x{width}; remove a stride-2 or pooling "
                    f"step (input {input_shape[1]}x{input_shape[2]} allows about "
                    f"{int(math.log2(min(input_shape[1:])))} halvings)"
                ]
            # Stride-2 'same' convs and ceil-mode pooling both give ceil(size / 2).
            height, width = (height + 1) // 2, (width + 1) // 2
    return []


def fit_downsampling(spec: Mapping[str, Any], input_shape: tuple[int, int, int]) -> tuple[dict[str, Any], list[str]]:
    """A valid spec's halvings cut to what the input allows: pooling, then stride 2, dropped where the
    map is already 1 pixel wide (small models put ``"pool": "max"`` on every block).

    Returns:
        The normalized spec with those steps removed, and a note per removal.

    Example:
        >>> spec, notes = fit_downsampling({"blocks": [{"channels": 8, "pool": "max"}] * 4}, (1, 4, 4))
        >>> [block["pool"] for block in spec["blocks"]], notes
        (['max', 'max', 'none', 'none'], ['blocks[2]: pooling removed (the map was 1x1)', \
'blocks[3]: pooling removed (the map was 1x1)'])
    """
    fitted = normalize_arch_spec(spec)
    notes = []
    height, width = input_shape[1:]
    for index, block in enumerate(fitted["blocks"]):
        for step, neutral in (("stride", 1), ("pool", "none")):  # in the order the block applies them
            if block[step] == neutral:
                continue
            if min(height, width) < 2:
                block[step] = neutral
                notes.append(
                    f"blocks[{index}]: {'pooling' if step == 'pool' else 'stride 2'} removed "
                    f"(the map was {height}x{width})"
                )
            else:
                height, width = (height + 1) // 2, (width + 1) // 2
    return fitted, notes


def spec_cost(spec: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int = 10) -> tuple[int, int]:
    """Trainable parameters and forward FLOPs per example of a *valid* spec (an estimate for budgets).

    Example:
        >>> spec_cost({"blocks": [{"channels": 8, "pool": "max"}]}, (1, 8, 8), num_classes=10)
        (178, 9376)
    """
    _, params, flops = _walk(normalize_arch_spec(spec), input_shape, num_classes)
    return params, flops


def _shape_errors(spec: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> list[str]:
    """Spatial collapse and parameter budget of a normalized spec."""
    errors, params, _ = _walk(spec, input_shape, num_classes)
    if not errors and params > MAX_PARAMS:
        errors.append(f"the spec has about {params:,} parameters; the limit is {MAX_PARAMS:,}")
    return errors


def validate_arch_spec(
    spec: Any,
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int = 10,
) -> list[str]:
    """Check an architecture spec and return readable errors (an empty list when it is valid).

    Args:
        spec: The candidate spec (anything: LLM output is untrusted).
        input_shape: ``(channels, height, width)`` of the data; when given, the spec is also checked
            for collapsing the spatial size to zero and for the parameter budget (`MAX_PARAMS`).
        num_classes: Number of output classes (for the parameter count).

    Returns:
        One message per problem, each naming the field, e.g. ``"blocks[1].pool: must be one of ..."``.

    Example:
        >>> validate_arch_spec({"blocks": [{"channels": 16, "pool": "max"}]}, input_shape=(1, 8, 8))
        []
    """
    if not isinstance(spec, Mapping):
        return [f"spec: must be an object with 'blocks' (and optional 'head'), got {type(spec).__name__}"]
    errors: list[str] = []
    _check_unknown(errors, "spec", spec, ["blocks", "head"])
    blocks = spec.get("blocks")
    if not isinstance(blocks, Sequence) or isinstance(blocks, (str, bytes)) or not blocks:
        errors.append(f"blocks: must be a non-empty list of at most {MAX_BLOCKS} blocks, got {blocks!r}")
    elif len(blocks) > MAX_BLOCKS:
        errors.append(f"blocks: at most {MAX_BLOCKS} blocks allowed, got {len(blocks)}")
    else:
        for index, block in enumerate(blocks):
            _validate_block(errors, index, block)
    if "head" in spec:
        _validate_head(errors, spec["head"])
    if not errors and input_shape is not None:
        errors.extend(_shape_errors(normalize_arch_spec(spec), input_shape, num_classes))
    return errors
