"""The embedded coder model (the code roles' default, Qwen2.5-Coder-1.5B) fixes a real broken module.

The broken module is the commonest failure seen from small models: a flatten size that ignores
the pooling. The model gets the code and the sandbox's traceback and must return a module that
passes the sandbox within two rounds.
"""

from __future__ import annotations

import pytest

from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.code_writer import DEFAULT_CODE_MODEL, CodeWriter
from llm_search.arch.sandbox import SandboxLimits
from llm_search.backends.scripted import ScriptedBackend
from llm_search.exchange_log import ExchangeLog, read_exchanges
from tests.arch.test_code_writer import WRONG_FLATTEN, fenced

pytestmark = pytest.mark.integration
pytest.importorskip("torch")


def test_the_embedded_coder_model_fixes_a_wrong_flatten_size(tmp_path):
    log_path = str(tmp_path / "llm_exchanges.jsonl")
    writer = CodeWriter(
        ScriptedBackend([fenced(WRONG_FLATTEN)]),  # the broken module, as if a writer had proposed it
        fixer=DEFAULT_CODE_MODEL,
        max_fix_rounds=2,
        limits=SandboxLimits(cpu_s=30, wall_s=120),
        exchange_log=ExchangeLog(log_path),
        repair_shapes=False,  # the model must fix it, not the mechanical shape repair
    )
    result = writer.write(ArchTask("Fashion-MNIST: 28x28 grey images of clothes, 10 classes", (1, 28, 28), 10), seed=7)
    records = list(read_exchanges(log_path))
    fixes = [r for r in records if r["role"] == "code_fixer"]
    assert fixes and all(r["model"] == "Qwen2.5-Coder-1.5B-Instruct" for r in fixes)
    assert "mat1 and mat2 shapes cannot be multiplied" in fixes[0]["messages"][1]["content"]
    assert result.ok, [r["validation"] for r in records]
    assert result.attempts[-1].report.output_shape == [8, 10]
