"""Every model builds for every input shape and overfits a small fixed batch of real images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainables.config import INPUT_SHAPES, TrainConfig
from trainables.data.device import load_splits
from trainables.models import build_model
from trainables.models.resnet9 import ResNet9
from trainables.models.vit import ViT, patch_size_for

MODELS = ["flawed_cnn", "resnet9", "vit", "spec_cnn"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dataset", sorted(INPUT_SHAPES))
def test_forward_shapes(model: str, dataset: str, tiny_config) -> None:
    cfg = TrainConfig.from_dict(tiny_config(model=model, dataset=dataset))
    net = build_model(cfg)
    assert net(torch.zeros(2, *INPUT_SHAPES[dataset])).shape == (2, 10)


def test_flawed_cnn_matches_the_blog_layout() -> None:
    net = build_model(TrainConfig.from_dict({"dataset": "cifar10", "model": "flawed_cnn"}))
    assert net.conv.out_channels == 16 and net.fc.in_features == 16384
    assert isinstance(net.act, torch.nn.Sigmoid)


def test_default_sizes() -> None:
    assert sum(p.numel() for p in ResNet9((3, 32, 32), 10).parameters()) == 6_573_130
    assert [patch_size_for(s, s) for s in (32, 28, 8)] == [4, 4, 1]
    assert len(ViT((1, 28, 28), 10).blocks) == 4


@pytest.mark.parametrize("model", MODELS)
def test_overfits_a_small_real_batch(model: str, tiny_config) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig.from_dict(tiny_config(model=model))
    splits = load_splits("digits", device=torch.device("cpu"))
    x, y = splits.normalize(splits.train_images[:32]), splits.train_labels[:32]
    net = build_model(cfg)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
