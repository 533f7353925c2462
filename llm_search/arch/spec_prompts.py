"""Prompts and decoding grammar of the spec writer: networks as JSON specs that are valid by construction.

The spec form (``trainables/models/arch_spec.py``) is the one every model can write: under the
grammar below the answer can only be a spec whose every field takes one of a bounded list of
values (channels from a ladder, kernels 1/3/5/7, up to ``MAX_SPEC_BLOCKS`` blocks), so even a
135M model writes a buildable network. What a grammar cannot see, a spatial size halved below
one pixel or a parameter budget, is checked in Python and sent back for a fix.

Example:
    >>> grammar = spec_grammar()
    >>> grammar.splitlines()[1].startswith('start: "{\\\\"blocks\\\\":[" blocks')
    True
    >>> render_spec({"blocks": [{"channels": 32, "kernel": 3, "stride": 1, "activation": "relu",
    ...     "batch_norm": True, "pool": "max", "residual": False}],
    ...     "head": {"pool": "avg", "hidden": 0, "activation": "relu", "dropout": None}})
    'conv32 k3 bn relu maxpool | head avg'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llm_search.arch.code_prompts import ArchTask
from trainables.models.arch_spec import ACTIVATIONS, HEAD_POOLS, KERNELS, POOLS, STRIDES

CHANNEL_LADDER = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
HIDDEN_UNITS = (0, 32, 64, 128, 256, 512)
DROPOUTS = ("null", "0.1", "0.2", "0.3", "0.5")
MAX_SPEC_BLOCKS = 8  # the schema allows 12; a grammar with fewer keeps small models from rambling

_BLOCK = {"kernel": 3, "stride": 1, "activation": "relu", "batch_norm": True, "pool": "max", "residual": False}
# The trainables' default network, its fields in the grammar's order.
EXAMPLE_SPEC = {
    "blocks": [{"channels": 32, **_BLOCK}, {"channels": 64, **_BLOCK}],
    "head": {"pool": "avg", "hidden": 64, "activation": "relu", "dropout": None},
}

SPEC_SYSTEM = (
    "You are an expert in neural architecture design. You describe convolutional networks as JSON "
    "specs. Answer with JSON only."
)


def _literal(text: str) -> str:
    return json.dumps(text)


def _alternatives(values: Sequence[Any]) -> str:
    """Each value as its JSON text, e.g. ``"\\"relu\\"" | "\\"gelu\\""``."""
    return " | ".join(_literal(json.dumps(v)) for v in values)


def spec_grammar(max_blocks: int = MAX_SPEC_BLOCKS) -> str:
    """Lark grammar (llguidance dialect) admitting exactly the bounded specs, fields in a fixed order."""
    block = (
        _literal('{"channels":')
        + " channels "
        + _literal(',"kernel":')
        + " kernel "
        + _literal(',"stride":')
        + " stride "
        + _literal(',"activation":')
        + " activation "
        + _literal(',"batch_norm":')
        + " flag "
        + _literal(',"pool":')
        + " pool "
        + _literal(',"residual":')
        + " flag "
        + _literal("}")
    )
    head = (
        _literal('{"pool":')
        + " head_pool "
        + _literal(',"hidden":')
        + " hidden "
        + _literal(',"activation":')
        + " activation "
        + _literal(',"dropout":')
        + " dropout "
        + _literal("}")
    )
    blocks = " | ".join(' "," '.join(["block"] * n) for n in range(1, max_blocks + 1))
    dropouts = " | ".join(_literal(d) for d in DROPOUTS)
    start = "start: " + " ".join([_literal('{"blocks":['), "blocks", _literal('],"head":'), "head", _literal("}")])
    return (
        "\n".join(
            [
                "%llguidance {}",
                start,
                f"blocks: {blocks}",
                f"block: {block}",
                f"head: {head}",
                f"channels: {_alternatives(CHANNEL_LADDER)}",
                f"kernel: {_alternatives(KERNELS)}",
                f"stride: {_alternatives(STRIDES)}",
                f"activation: {_alternatives(ACTIVATIONS)}",
                f"pool: {_alternatives(POOLS)}",
                f"head_pool: {_alternatives(HEAD_POOLS)}",
                f"hidden: {_alternatives(HIDDEN_UNITS)}",
                f"dropout: {dropouts}",
                'flag: "true" | "false"',
            ]
        )
        + "\n"
    )


def render_spec(spec: Mapping[str, Any]) -> str:
    """A normalized spec in one short line (what the hyperparameter prompt shows per network)."""
    parts = []
    for block in spec["blocks"]:
        words = [f"conv{block['channels']}", f"k{block['kernel']}"]
        words += ["s2"] if block["stride"] == 2 else []
        words += ["bn"] if block["batch_norm"] else []
        words += [block["activation"]]
        words += [f"{block['pool']}pool"] if block["pool"] != "none" else []
        words += ["residual"] if block["residual"] else []
        parts.append(" ".join(words))
    head = spec["head"]
    words = [f"head {head['pool']}"]
    words += [f"fc{head['hidden']} {head['activation']}"] if head["hidden"] else []
    words += [f"dropout {head['dropout']}"] if head["dropout"] is not None else []
    return " | ".join(parts + [" ".join(words)])


def _schema_text(task: ArchTask) -> str:
    shape = "x".join(str(n) for n in task.input_shape)
    return (
        'A spec is {"blocks": [block, ...], "head": head}. Blocks run in order, each a convolution '
        f"with 'same' padding:\n"
        f'- block: {{"channels": one of {list(CHANNEL_LADDER)}, "kernel": one of {list(KERNELS)}, '
        f'"stride": 1 or 2, "activation": one of {json.dumps(list(ACTIVATIONS))}, "batch_norm": true/false, '
        f'"pool": "max", "avg" or "none" (2x2 pooling after the block), "residual": true/false '
        "(a shortcut around the block)}\n"
        f'- head: {{"pool": "avg" or "max" (global) or "flatten", "hidden": units of a hidden layer '
        f'(0 = none), "activation": as above, "dropout": null or 0.1-0.5}}\n'
        f"- Input {shape}: each stride 2 and each pooling halves the map; at most "
        f"{max(1, min(task.input_shape[1:]).bit_length() - 1)} halvings in all. At most "
        f"{task.max_params:,} parameters and {MAX_SPEC_BLOCKS} blocks.\n"
        f"Example: {json.dumps(EXAMPLE_SPEC, separators=(',', ':'))}"
    )


def spec_writer_messages(task: ArchTask, context: Sequence[str] = ()) -> list[dict[str, str]]:
    """Ask for a new spec; ``context``: lines on earlier networks, their results and gradient diagnoses."""
    parts = [f"Task: {task.description}", "", _schema_text(task)]
    if context:
        parts += ["", "What has been tried (results and gradient diagnoses):", *context]
        parts += ["", "Write a spec likely to do better than these; fix what the diagnoses point at."]
    else:
        parts += ["", "Write a spec for a network that trains well and fast on this task."]
    parts.append("Answer with the spec as JSON only.")
    return [{"role": "system", "content": SPEC_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def spec_fixer_messages(task: ArchTask, answer: str, problems: Sequence[str]) -> list[dict[str, str]]:
    """Ask again, quoting the spec and its problems."""
    listed = "\n".join(f"- {p}" for p in problems[:10])
    parts = [
        f"Task: {task.description}",
        "",
        _schema_text(task),
        "",
        f"This spec failed its checks:\n{answer[:3000]}\n\nProblems:\n{listed}",
        "",
        "Answer with the corrected spec as JSON only: keep the design, change what the problems name.",
    ]
    return [{"role": "system", "content": SPEC_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]
