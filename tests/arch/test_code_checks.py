"""The static check allows a model's own private helpers and still refuses torch's internals."""

from __future__ import annotations

from llm_search.arch.code_checks import check_model_source

RESNET = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stage = self._make_layer(in_channels, 8)
        self._width = 8
        self.fc = nn.Linear(self._width, num_classes)

    def _make_layer(self, a, b):
        return nn.Sequential(nn.Conv2d(a, b, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.fc(self.stage(x))
"""


def test_the_classs_own_private_methods_and_attributes_are_allowed_on_self():
    # The 1.5B model's ResNet idiom was refused at 71bb34c (seed 14 of benchmarks.code_proposals).
    assert check_model_source(RESNET).ok, check_model_source(RESNET).problems


def test_private_attributes_the_code_did_not_define_or_not_on_self_stay_refused():
    for line in ("self._modules.clear()", "torch._C._get_tracing_state()", "nn._make_layer(1, 2)"):
        code = RESNET.replace(
            "        return self.fc(self.stage(x))", f"        {line}\n        return self.fc(self.stage(x))"
        )
        code = "import torch\n" + code
        report = check_model_source(code)
        assert not report.ok and any("private attribute" in p or "not allowed" in p for p in report.problems), line
