"""The flawed-CNN experiment's pipeline: real training on scikit-learn's digits (2 batches per epoch), scripted LLMs.

Digits, not Fashion-MNIST: every trial process loads its data set, and Fashion-MNIST's ~100 s of
loading per trial here would make this the slowest test by far; the path is the same.

The hyperparameter LLM always takes the newest written network; the code LLM writes a working
CNN. So the LLM arm must train a network that was written, validated and carried in a trial config.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from llm_search.backends.scripted import ScriptedBackend

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "flawed_cnn" / "run.py"
NETWORK = """import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).mean(dim=(2, 3)))
"""


def newest_network(messages, options):
    labels = re.findall(r'"(code:[0-9a-f]{16})"', messages[1]["content"])
    model = labels[-1] if labels else "flawed_cnn"
    return json.dumps({"configs": [{"model": model, "optimizer": "adam", "learning_rate": 0.003}]})


def test_the_arms_run_and_the_llm_arm_trains_a_written_network(ray_runtime, tmp_path):
    spec = importlib.util.spec_from_file_location("flawed_cnn_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run_experiment(
        {**module.SMOKE, "trials": 3},
        dataset="digits",
        arms=("flawed", "llm"),  # the resnet9 arm is a plain Tune + TPE run: left out to keep this test short
        backend=ScriptedBackend(default=newest_network),
        code_backend=ScriptedBackend(default=f"```python\n{NETWORK}```"),
        out=tmp_path / "flawed",
    )
    assert set(rows) == {"flawed", "llm"}
    assert all(row["failed"] == 0 and 0.0 <= row["test_acc"] <= 1.0 for row in rows.values()), rows
    assert rows["flawed"]["trials"] == 1 and rows["llm"]["trials"] == 3
    assert rows["llm"]["networks_written"] == 1 and rows["llm"]["llm_calls"] >= 2
    trials = [json.loads(p.read_text()) for p in (tmp_path / "flawed" / "llm").glob("*/params.json")]
    assert sum(t["model"] == "code" for t in trials) >= 1
    report = (tmp_path / "flawed" / "report.md").read_text()
    assert "| llm | 3 (0) |" in report and "| flawed | 1 (0) | flawed_cnn |" in report
