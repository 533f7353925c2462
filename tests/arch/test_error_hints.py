"""Shape-error hints name the layer, the sizes and, given the source, the exact change."""

from __future__ import annotations

from llm_search.arch.error_hints import diagnose, hint_for

SOURCE = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.a = nn.Conv2d(in_channels, 16, 3)
        self.b = nn.Conv2d(32, 32, 3)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(32 * 7 * 7, num_classes)
"""


def test_conv_channel_mismatch_points_at_the_conv_with_the_wrong_in_channels():
    error = (
        "RuntimeError: Given groups=1, weight of size [32, 32, 3, 3], expected input[8, 16, 26, 26] "
        "to have 32 channels, but got 16 channels instead"
    )
    hint = hint_for(error, SOURCE)
    assert "in_channels=32 but receives 16 channels" in hint
    assert "line 6: replace `nn.Conv2d(32, 32, 3)` with `nn.Conv2d(16, 32, 3)`" in hint


def test_batch_norm_width_points_at_the_batch_norm():
    hint = hint_for("RuntimeError: running_mean should contain 32 elements not 64", SOURCE)
    assert "num_features=64 but its input has 32 channels" in hint
    assert "line 7: replace `nn.BatchNorm2d(64)` with `nn.BatchNorm2d(32)`" in hint


def test_linear_size_evaluates_constant_arithmetic():
    hint = hint_for("mat1 and mat2 shapes cannot be multiplied (8x800 and 1568x10)", SOURCE)
    assert "line 8: replace `nn.Linear(32 * 7 * 7, num_classes)` with `nn.Linear(800, num_classes)`" in hint


def test_without_source_or_a_matching_layer_the_hint_stays_general():
    hint = hint_for("mat1 and mat2 shapes cannot be multiplied (8x800 and 999x10)", SOURCE)
    assert hint.startswith("Hint: an nn.Linear layer has in_features=999") and "Change exactly" not in hint
    assert "Change exactly" not in hint_for("running_mean should contain 32 elements not 64")


TWO_WIDE = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.a = nn.Conv2d(in_channels, 16, 3)
        self.b = nn.Conv2d(32, 32, 3)
        self.c = nn.Conv2d(32, 32, 3)

    def forward(self, x):
        return self.c(self.b(self.a(x)))
"""
CONV_ERROR = "expected input[8, 16, 26, 26] to have 32 channels, but got 16 channels instead"


def test_an_edit_is_certain_when_one_layer_matches_or_the_failing_line_calls_it():
    assert diagnose(CONV_ERROR, SOURCE).certain
    # Two convs take 32 channels: the frame's ``self.b(...)`` names the one.
    named = diagnose(
        f"Traceback (generated code frames):\n  line 10, in forward: x = self.b(x)\n{CONV_ERROR}", TWO_WIDE
    )
    assert named.certain and [e.line for e in named.edits] == [6]
    # A line calling both (or no frame at all) leaves the choice to a model.
    both = diagnose(f"  line 10, in forward: return self.c(self.b(self.a(x)))\n{CONV_ERROR}", TWO_WIDE)
    assert not both.certain and [e.line for e in both.edits] == [6, 7]
    assert not diagnose(CONV_ERROR, TWO_WIDE).certain


RESIDUAL_ERROR = (
    "RuntimeError: The size of tensor a (64) must match the size of tensor b (32) at non-singleton dimension 1"
)
# The 1.5B model's block (benchmarks.code_proposals seed 0): the shortcut adds the input unchanged.
BLOCK = """import torch.nn as nn
class Block(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super(Block, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1)

    def forward(self, x):
        identity = x
        x = self.conv(x)
        x += identity
        return x
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.block = Block(32, 64)
"""
IN_BLOCK = (
    "Traceback (generated code frames):\n  line 20, in forward: x = self.block(x)\n"
    f"  line 10, in forward: x += identity\n{RESIDUAL_ERROR}"
)


def test_a_residual_addition_of_different_widths_gets_the_shortcut_hint():
    hint = hint_for(RESIDUAL_ERROR)
    assert "64 and 32 channels" in hint and "kernel_size=1" in hint
    assert diagnose(RESIDUAL_ERROR).edits == []


def test_a_blocks_shortcut_gets_a_projection_from_its_in_to_its_out_width():
    diagnosis = diagnose(IN_BLOCK, BLOCK)
    assert diagnosis.certain
    assert [str(edit) for edit in diagnosis.edits] == [
        "line 10: replace `x += identity` with `x += self.shortcut_projection(identity)`",
        "line 4: replace `super(Block, self).__init__()` with `super(Block, self).__init__()\n        "
        "self.shortcut_projection = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) "
        "if in_channels != out_channels or stride != 1 else nn.Identity()`",
    ]
    # `out = out + x` is wrapped on its right operand only.
    plus = BLOCK.replace("x += identity", "x = self.conv(x) + x")
    assert diagnose(IN_BLOCK, plus).edits[0].new == "self.conv(x) + self.shortcut_projection(x)"


def test_a_block_whose_widths_cannot_be_read_is_left_to_the_fixer():
    for source in (
        BLOCK.replace("Block(32, 64)", "Block(width, 2 * width)"),  # widths from variables
        BLOCK.replace("Block(32, 64)", "Block(64, 32)"),  # the added operand is the block's output
        BLOCK.replace("x += identity", "x += identity + x"),  # two additions on the failing line
    ):
        diagnosis = diagnose(IN_BLOCK, source)
        assert diagnosis.edits == [] and not diagnosis.certain and "kernel_size=1" in diagnosis.text


def test_a_depthwise_conv_on_one_channel_gets_the_groups_hint_and_on_its_line_groups_1():
    hint = hint_for("Traceback ...\nValueError: in_channels must be divisible by groups")
    assert "groups=in_channels" in hint and "1x1" in hint
    # The 1.5B model's depthwise-separable brief (6a932d4, 2 of 27 writer answers) on the 1-channel input:
    source = "import torch.nn as nn\nconv = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1, groups=32)\n"
    error = "  line 2, in __init__: nn.Conv2d(...)\nValueError: in_channels must be divisible by groups"
    diagnosis = diagnose(error, source)
    assert diagnosis.certain and [str(e) for e in diagnosis.edits] == ["line 2: replace `groups=32` with `groups=1`"]
    assert diagnose(error.replace("line 2", "line 1"), source).edits == []  # not the failing line
    # Literal widths: the largest groups that divide both, still one input channel per group.
    wider = source.replace(
        "nn.Conv2d(in_channels, 32, kernel_size=3, padding=1, groups=32)", "nn.Conv2d(32, 64, 3, groups=64)"
    )
    assert str(diagnose(error, wider).edits[0]) == "line 2: replace `groups=64` with `groups=32`"


OVER_BUDGET = (
    "3,475,980 parameters; the budget is 1,000,000: make the network smaller. Largest layers: self.fc1 (Linear) "
    "3,211,264, self.conv2 (Conv2d) 18,496, self.fc2 (Linear) 10,250."
)
WIDE_HEAD = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 28 * 28, 64, bias=False)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.conv(x).view(x.size(0), -1)
        return self.fc2(self.fc1(x))
"""


def test_an_over_budget_linear_layer_on_the_flattened_map_gets_global_average_pooling():
    diagnosis = diagnose(OVER_BUDGET, WIDE_HEAD)
    assert diagnosis.certain and "self.fc1" in diagnosis.text
    assert [str(edit) for edit in diagnosis.edits] == [
        "line 6: replace `nn.Linear(64 * 28 * 28, 64, bias=False)` with `nn.LazyLinear(64, bias=False)`",
        "line 10: replace `self.conv(x).view(x.size(0), -1)` with "
        "`torch.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1)`",
    ]
    for flatten in ("torch.flatten(self.conv(x), 1)", "self.conv(x).flatten(start_dim=1)", "self.conv(x).view(-1, 9)"):
        assert diagnose(OVER_BUDGET, WIDE_HEAD.replace("self.conv(x).view(x.size(0), -1)", flatten)).certain
    # An nn.Flatten module (the 1.5B model's `self.flatten = nn.Flatten()`, 6a932d4):
    module = WIDE_HEAD.replace("self.conv(x).view(x.size(0), -1)", "self.flatten(self.conv(x))")
    module = module.replace("super().__init__()", "super().__init__()\n        self.flatten = nn.Flatten()")
    assert diagnose(OVER_BUDGET, module).edits[1].new == "torch.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1)"
    # A LazyLinear already (after the missing-flatten repair): only the pooling.
    lazy = WIDE_HEAD.replace("nn.Linear(64 * 28 * 28, 64, bias=False)", "nn.LazyLinear(64, bias=False)")
    assert [edit.new for edit in diagnose(OVER_BUDGET, lazy).edits] == [
        "torch.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1)"
    ]


def test_pooling_is_left_to_the_fixer_when_the_flatten_or_the_layer_is_not_one():
    two_flattens = WIDE_HEAD.replace("return self.fc2(self.fc1(x))", "return self.fc2(self.fc1(x.flatten(1)))")
    for source in (two_flattens, WIDE_HEAD.replace("self.fc1 = nn.Linear", "self.fc1 = nn.Bilinear")):
        diagnosis = diagnose(OVER_BUDGET, source)
        assert not diagnosis.certain and diagnosis.edits == [] and "adaptive_avg_pool2d" in diagnosis.text


# The 1.5B model's network at daae964 with no flatten before its classifier: the linear layer
# multiplies the map's last dimension (14), and setting in_features=14 (what the plain hint did)
# only moves the failure to the next layer.
NO_FLATTEN = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 128, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(128 * 7 * 7, 1024)
        self.out = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.pool(self.conv(x))
        x = self.fc(x)
        return self.out(x)
"""
NO_FLATTEN_ERROR = (
    "Traceback (generated code frames):\n  line 12, in forward: x = self.fc(x)\n"
    "RuntimeError: mat1 and mat2 shapes cannot be multiplied (14336x14 and 6272x1024)"
)


def test_a_linear_layer_on_the_unflattened_map_gets_a_flatten_and_a_lazy_linear():
    diagnosis = diagnose(NO_FLATTEN_ERROR, NO_FLATTEN)
    assert diagnosis.certain and "receives the feature map itself" in diagnosis.text
    assert [str(edit) for edit in diagnosis.edits] == [
        "line 7: replace `nn.Linear(128 * 7 * 7, 1024)` with `nn.LazyLinear(1024)`",
        "line 12: replace `self.fc(x)` with `self.fc(torch.flatten(x, 1))`",
    ]


def test_a_flatten_before_the_linear_layer_means_a_wrong_size_not_a_missing_flatten():
    flattened = [
        NO_FLATTEN.replace("x = self.fc(x)", "x = self.fc(x.view(-1, 6272))"),
        NO_FLATTEN.replace("x = self.pool(self.conv(x))", "x = torch.flatten(self.pool(self.conv(x)), 1)"),
        NO_FLATTEN.replace(
            "self.fc = nn.Linear(128 * 7 * 7, 1024)", "self.fc = nn.Sequential(nn.Flatten(), nn.Linear(6272, 1024))"
        ),
        NO_FLATTEN.replace("self.pool = nn.MaxPool2d(2)", "self.pool = nn.Sequential(nn.MaxPool2d(2), nn.Flatten())"),
    ]
    for source in flattened:
        diagnosis = diagnose(NO_FLATTEN_ERROR, source)
        assert "receives the feature map itself" not in diagnosis.text, source


def test_widths_halve_in_layer_and_block_calls_and_assignments_but_not_kernels_or_spatial_sizes():
    source = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.in_planes = 64
        self.conv = nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1)
        self.layer = self._make_layer(128, 2, stride=2)
        self.fc = nn.Linear(256 * 7 * 7, num_classes)
"""
    error = (
        "5,000,000 parameters; the budget is 1,000,000: make the network smaller. "
        "Largest layers: self.layer.0.conv2 (Conv2d) 590,080"
    )
    diagnosis = diagnose(error, source)
    assert diagnosis.certain and "halve the channel widths" in diagnosis.text
    assert [(edit.old, edit.new) for edit in diagnosis.edits] == [
        ("self.in_planes = 64", "self.in_planes = 16"),  # 5x over: a factor of 4
        (
            "nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1)",
            "nn.Conv2d(in_channels, 16, kernel_size=3, stride=2, padding=1)",
        ),
        ("self._make_layer(128, 2, stride=2)", "self._make_layer(32, 2, stride=2)"),
        ("nn.Linear(256 * 7 * 7, num_classes)", "nn.Linear(64 * 7 * 7, num_classes)"),
    ]
    hopeless = error.replace("5,000,000", "20,000,000")
    assert diagnose(hopeless, source).edits == []


def test_a_layer_swap_needs_the_one_layer_the_failing_line_calls():
    two_norms = (
        "class Net:\n    def __init__(self):\n        self.a = nn.LayerNorm(8)\n        self.b = nn.LayerNorm(8)\n"
        "    def forward(self, x):\n        return self.a(self.b(x))\n"
    )
    error = (
        "  line 6, in forward: return self.a(self.b(x))\nRuntimeError: Given normalized_shape=[8], "
        "expected input with shape [*, 8], but got input of size[4, 8, 5, 5]"
    )
    diagnosis = diagnose(error, two_norms)
    assert "nn.GroupNorm(1, 8)" in diagnosis.text and diagnosis.edits == [] and not diagnosis.certain
    one_norm = two_norms.replace("self.a(self.b(x))", "self.a(x)")
    assert diagnose(error.replace("self.a(self.b(x))", "self.a(x)"), one_norm).certain
