"""The Zhang et al. CIFAR-10 reproduction's --smoke mode: real ResNet-9/ViT training on Fashion-MNIST,
2 trials of 2 batches per run, through the benchmark runner and report."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from benchmarks.results import load_results

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "zhang_cifar10" / "run.py"
FASHION_MNIST = os.environ.get("LLM_SEARCH_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def _load_script():
    spec = importlib.util.spec_from_file_location("zhang_cifar10_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not Path(FASHION_MNIST).is_dir(), reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)"
)
def test_smoke_run_trains_both_models_for_both_methods(ray_runtime, scripted_backend_spec, tmp_path):
    out = tmp_path / "zhang"
    rc = _load_script().main(["--smoke", "--backend", scripted_backend_spec, "--out", str(out)])
    assert rc == 0
    table = load_results(out)
    assert sorted(table["problem"].unique()) == ["zhang/fashion_mnist_resnet9", "zhang/fashion_mnist_vit"]
    assert sorted(table["method"].unique()) == ["llm-local", "random"]
    assert len(table) == 2 * 2 * 2
    assert (table["status"] == "ok").all()
    assert (out / "report.md").exists() and (out / "report_curves.png").exists()
