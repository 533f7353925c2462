"""The training loop without Ray: report keys, gradient norms, clipping, checkpoints, divergence."""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from trainables.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainables.config import TrainConfig
from trainables.data.device import load_splits
from trainables.errors import TrainingDiverged
from trainables.grad_norms import GradNormTracker, grad_norm_groups
from trainables.loop import _epoch_seed, fit, resolve_device
from trainables.models import build_model
from trainables.optim import schedule_factor

BASE_KEYS = {
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_time_s",
    "images_per_s",
    "num_params",
    "diverged",
}


class Recorder:
    """A `report` callable that keeps every report and copies every checkpoint directory."""

    def __init__(self, root: Path, *, stop_after: int | None = None) -> None:
        self.root = root
        self.stop_after = stop_after
        self.reports: list[dict[str, Any]] = []
        self.checkpoints: list[Path | None] = []

    def __call__(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        self.reports.append(dict(metrics))
        copy = None
        if checkpoint_dir is not None:
            copy = self.root / f"ckpt_{len(self.reports)}"
            shutil.copytree(checkpoint_dir, copy)
        self.checkpoints.append(copy)
        if self.stop_after is not None and len(self.reports) >= self.stop_after:
            raise KeyboardInterrupt("simulated preemption")


def test_reports_every_epoch_with_the_documented_keys(tmp_path: Path, tiny_config) -> None:
    recorder = Recorder(tmp_path)
    final = fit(tiny_config(epochs=2, final_test=True), report=recorder)
    assert [r["epoch"] for r in recorder.reports] == [1, 2]
    grad_keys = {f"grad_norm/{g}{s}" for g in ("total", "conv", "fc") for s in ("", "/max")}
    assert set(recorder.reports[0]) == BASE_KEYS | grad_keys
    assert set(final) == BASE_KEYS | grad_keys | {"test_loss", "test_acc"}
    assert final == recorder.reports[-1]
    for report in recorder.reports:
        assert all(math.isfinite(v) for v in report.values() if isinstance(v, float))
        assert 0.0 <= report["val_acc"] <= 1.0 and report["diverged"] is False
        assert report["images_per_s"] == pytest.approx(4 * 32 / report["epoch_time_s"])  # max_train_batches=4
    assert all(path is not None and (path / CHECKPOINT_FILE).is_file() for path in recorder.checkpoints)


def test_grad_norms_match_a_direct_computation_on_one_step(tiny_config) -> None:
    raw = tiny_config(max_train_batches=1, epochs=1, optimizer="sgd", learning_rate=0.1)
    metrics = fit(raw)
    # Replay the loop's first step by hand: same init seed, same batch, same loss.
    cfg = TrainConfig.from_dict(raw)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    splits = load_splits("digits", device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(_epoch_seed(cfg.seed, 0))
    index = torch.randperm(len(splits.train_labels), generator=generator)[: cfg.batch_size]
    F.cross_entropy(model(splits.normalize(splits.train_images[index])), splits.train_labels[index]).backward()
    expected_total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    assert metrics["grad_norm/total"] == pytest.approx(expected_total, rel=1e-5)
    assert metrics["grad_norm/total/max"] == pytest.approx(expected_total, rel=1e-5)
    for layer in ("conv", "fc"):
        module = getattr(model, layer)
        direct = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in module.parameters()])).item()
        assert metrics[f"grad_norm/{layer}"] == pytest.approx(direct, rel=1e-5)
        assert metrics[f"grad_norm/{layer}/max"] == pytest.approx(direct, rel=1e-5)


@pytest.mark.parametrize(
    ("model", "groups"),
    [
        (
            "resnet9",
            [
                "prep",
                "layer1.conv",
                "layer1.res1",
                "layer1.res2",
                "layer2.conv",
                "layer3.conv",
                "layer3.res1",
                "layer3.res2",
                "head",
            ],
        ),
        ("vit", ["patch_embed", "blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp", "head"]),
        ("spec_cnn", ["blocks.0", "blocks.1", "head"]),
    ],
)
def test_grad_norm_groups_and_tracker_statistics(model: str, groups: list[str], tiny_config) -> None:
    net = build_model(TrainConfig.from_dict(tiny_config(model=model)))
    assert list(grad_norm_groups(net)) == groups
    tracker = GradNormTracker(net)
    named = dict(net.named_parameters())
    per_step = []
    for step in range(3):
        net.zero_grad()
        (net(torch.randn(4, 1, 8, 8)) ** 2).sum().mul(step + 1).backward()
        tracker.update()
        per_step.append(
            {
                g: torch.nn.utils.get_total_norm([named[n].grad for n in names]).item()
                for g, names in grad_norm_groups(net).items()
            }
        )
    values = dict(zip(tracker.metric_names(), tracker.stats().flatten().tolist(), strict=True))
    for group in groups:
        norms = [step[group] for step in per_step]
        assert values[f"grad_norm/{group}"] == pytest.approx(sum(norms) / 3, rel=1e-4)
        assert values[f"grad_norm/{group}/max"] == pytest.approx(max(norms), rel=1e-4)
    totals = [math.sqrt(sum(v**2 for v in step.values())) for step in per_step]
    assert values["grad_norm/total"] == pytest.approx(sum(totals) / 3, rel=1e-4)


def test_grad_clip_applies_after_measuring(tmp_path: Path, tiny_config) -> None:
    raw = tiny_config(max_train_batches=1, optimizer="sgd", learning_rate=1.0, weight_decay=0.0)
    unclipped, clipped = fit(raw), fit({**raw, "grad_clip": 1e-3})
    assert clipped["grad_norm/total"] == pytest.approx(unclipped["grad_norm/total"], rel=1e-6)
    # One plain SGD step of lr 1 moves the parameters by exactly the clipped gradient.
    cfg = TrainConfig.from_dict({**raw, "grad_clip": 1e-3})
    torch.manual_seed(cfg.seed)
    before = torch.cat([p.detach().flatten() for p in build_model(cfg).parameters()])
    recorder = Recorder(tmp_path)
    fit(cfg, report=recorder)
    state = load_checkpoint(recorder.checkpoints[0])["model"]
    after = torch.cat([v.flatten() for k, v in state.items() if "running" not in k and "num_batches" not in k])
    assert torch.linalg.vector_norm(after - before).item() == pytest.approx(1e-3, rel=1e-3)


def test_restore_continues_the_same_run(tmp_path: Path, tiny_config) -> None:
    raw = tiny_config(
        model="resnet9",
        epochs=3,
        optimizer="sgd_nesterov",
        learning_rate=0.05,
        schedule="warmup_cosine",
        dropout=0.2,
        max_train_batches=3,
    )
    uninterrupted = Recorder(tmp_path / "a")
    fit(raw, report=uninterrupted)
    interrupted = Recorder(tmp_path / "b", stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        fit(raw, report=interrupted)
    resumed = Recorder(tmp_path / "c")
    fit(raw, report=resumed, restore_dir=interrupted.checkpoints[1])
    assert [r["epoch"] for r in resumed.reports] == [3]
    volatile = {"epoch_time_s", "images_per_s"}
    expected = {k: v for k, v in uninterrupted.reports[2].items() if k not in volatile}
    assert {k: v for k, v in resumed.reports[0].items() if k not in volatile} == expected


def test_restore_of_a_finished_run_trains_nothing(tmp_path: Path, tiny_config) -> None:
    recorder = Recorder(tmp_path)
    last = fit(tiny_config(epochs=1), report=recorder)
    again = Recorder(tmp_path / "again")
    assert fit(tiny_config(epochs=1), report=again, restore_dir=recorder.checkpoints[0]) == last
    assert again.reports == []


def test_restore_under_a_mutated_config_uses_the_new_hyperparameters(tmp_path: Path, tiny_config) -> None:
    recorder = Recorder(tmp_path)
    fit(tiny_config(epochs=1, learning_rate=1e-2), report=recorder)
    mutated = Recorder(tmp_path / "m")
    fit(tiny_config(epochs=2, learning_rate=3e-3), report=mutated, restore_dir=recorder.checkpoints[0])
    assert [r["epoch"] for r in mutated.reports] == [2]
    assert mutated.reports[0]["lr"] == pytest.approx(3e-3)


def test_restore_into_another_model_fails_clearly(tmp_path: Path, tiny_config) -> None:
    recorder = Recorder(tmp_path)
    fit(tiny_config(), report=recorder)
    with pytest.raises(RuntimeError, match="does not fit this model"):
        fit(tiny_config(model="spec_cnn", epochs=2), restore_dir=recorder.checkpoints[0])


def test_divergence_reports_once_and_raises(tmp_path: Path, tiny_config) -> None:
    recorder = Recorder(tmp_path)
    with pytest.raises(TrainingDiverged, match="non-finite") as info:
        fit(tiny_config(model="vit", epochs=3, optimizer="sgd_momentum", learning_rate=10.0), report=recorder)
    last = recorder.reports[-1]
    assert last["diverged"] is True and last["stop_reason"] == str(info.value)
    assert "learning rate" in last["stop_reason"] and f"epoch {last['epoch']}" in last["stop_reason"]
    assert recorder.checkpoints[-1] is None and info.value.epoch == last["epoch"]
    assert isinstance(info.value, RuntimeError)
    copy = pickle.loads(pickle.dumps(info.value))  # Ray ships the error to the driver
    assert (str(copy), copy.epoch) == (str(info.value), info.value.epoch)


def test_invalid_config_is_rejected_before_training(tiny_config) -> None:
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        fit({**tiny_config(), "epoch": 3})


def test_cuda_request_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match=r"sees no CUDA GPU.*tune.with_resources\(trainable, \{'gpu': 1\}\)"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_schedules() -> None:
    assert schedule_factor("constant", 10)(9) == 1.0
    step = schedule_factor("step", 100)
    assert [step(0), step(50), step(75)] == [1.0, pytest.approx(0.1), pytest.approx(0.01)]
    cosine = schedule_factor("cosine", 100)
    assert cosine(0) == 1.0 and cosine(50) == pytest.approx(0.5) and cosine(99) < 0.001
    warm = schedule_factor("warmup_cosine", 100, 0.1)
    assert [warm(0), warm(4), warm(9), warm(10)] == [pytest.approx(0.1), pytest.approx(0.5), 1.0, 1.0]
    assert warm(99) < 0.001
