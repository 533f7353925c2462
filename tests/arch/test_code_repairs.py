"""Mechanical repairs of small models' slips: each adds or removes only what the checks would refuse."""

from __future__ import annotations

from llm_search.arch.code_checks import check_model_source
from llm_search.arch.code_repairs import add_constructor_args, repair_model_source
from llm_search.arch.name_repairs import add_missing_imports

MODEL = """class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fc = nn.Linear(784, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))
"""


def test_a_module_missing_imports_and_an_argument_passes_the_checks_after_repair():
    assert not check_model_source(MODEL).ok
    fixed, notes = repair_model_source(MODEL)
    assert check_model_source(fixed).ok, check_model_source(fixed).problems
    assert fixed.startswith("import torch\nimport torch.nn as nn\n")
    assert "def __init__(self, num_classes, in_channels=None):" in fixed
    assert len(notes) == 3


def test_names_the_code_defines_itself_get_no_import():
    own = "import torch.nn as nn\nF = 3\nclass Net(nn.Module):\n"
    own += "    def forward(self, x, torch):\n        return torch + F\n"
    assert add_missing_imports(own) == (own, [])


def test_hostile_code_is_not_made_acceptable():
    hostile = "import os\n" + MODEL.replace("return self.fc(", "os.getcwd()\n        return self.fc(")
    fixed, _ = repair_model_source(hostile)
    assert any("import of 'os' is not allowed" in p for p in check_model_source(fixed).problems)


def test_imports_nothing_reads_that_could_not_work_are_dropped():
    """From the 1.5B model's answers at daae964: a training example's optimizer import, and names
    that do not exist (an ImportError in the dry run)."""
    imports = "import torch.optim\nimport torch.nn as nn\nfrom torch.nn.init import he_init\nimport torch\n"
    fixed, notes = repair_model_source(imports + MODEL.replace("num_classes):", "num_classes, in_channels):"))
    assert check_model_source(fixed).ok, check_model_source(fixed).problems
    assert fixed.startswith("import torch.nn as nn\nimport torch\nclass Net")
    assert notes == [
        "dropped `import torch.optim` (not allowed, and nothing uses it)",
        "dropped `from torch.nn.init import he_init` (torch.nn.init has no he_init, and nothing uses it)",
    ]


def test_imports_the_code_reads_stay_for_the_check_or_the_dry_run():
    used = "import torch.optim\nfrom torch.nn.init import he_init\n" + MODEL.replace(
        "return self.fc(",
        "he_init(self.fc.weight)\n        torch.optim.SGD(self.parameters())\n        return self.fc(",
    )
    fixed, notes = repair_model_source(used)
    assert "import torch.optim\nfrom torch.nn.init import he_init\n" in fixed
    assert not any(note.startswith("dropped") for note in notes)


def test_constructors_already_right_or_not_plain_are_left_alone():
    right = MODEL.replace("(self, num_classes)", "(self, in_channels, num_classes)")
    assert add_constructor_args(right) == (right, [])
    star = MODEL.replace("(self, num_classes)", "(self, *args)")
    assert add_constructor_args(star) == (star, [])
    multiline = MODEL.replace("(self, num_classes)", "(\n        self,\n        num_classes: int = 10,\n    )")
    fixed, added = add_constructor_args(multiline)
    assert added == ["in_channels"] and "num_classes: int = 10, in_channels=None,\n" in fixed


def test_a_helper_block_keeps_its_signature_and_the_model_class_gets_the_argument():
    block = "class Block(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n\n"
    fixed, added = add_constructor_args(block + MODEL)
    assert "def __init__(self, width):" in fixed and "def __init__(self, num_classes, in_channels=None):" in fixed


def test_usage_code_between_the_model_class_and_a_helper_goes_and_the_helper_stays():
    # The 1.5B model's answer (benchmarks.code_proposals seed 11 at 71bb34c): an example, a helper
    # function, a call of it; refused in all 3 rounds as only the call after the helper was dropped.
    code = (
        "import torch\nimport torch.nn as nn\n\n"
        "class Net(nn.Module):\n    def __init__(self, in_channels, num_classes):\n        super().__init__()\n"
        "        self.fc = nn.Linear(in_channels * 28 * 28, num_classes)\n\n"
        "    def forward(self, x):\n        return self.fc(torch.flatten(x, 1))\n\n"
        "model = Net(1, 10)\nlogits = model(torch.randn(1, 1, 28, 28))\nprint(logits.shape)\n\n"
        "def check_gradients(model):\n    for p in model.parameters():\n        print(p.grad)\n\n"
        "check_gradients(model)\n"
    )
    fixed, notes = repair_model_source(code)
    assert notes == ["dropped usage code at line(s) 12, 13, 14, 20"]
    assert "def check_gradients" in fixed and "model = Net" not in fixed
    assert check_model_source(fixed).ok


def test_a_demo_model_class_after_the_usage_code_goes_with_it_and_a_helper_the_model_reads_stays():
    # The 1.5B model's answer in the flawed-CNN run at b8db89a: the model, an example, then a
    # DummyModel and its own example; refused twice, as only the usage after DummyModel was dropped.
    code = (
        "import torch\nimport torch.nn as nn\n\n"
        "class Net(nn.Module):\n    def __init__(self, in_channels=1, num_classes=10):\n        super().__init__()\n"
        "        self.block = Block()\n        self.fc = nn.Linear(in_channels * 28 * 28, num_classes)\n\n"
        "    def forward(self, x):\n        return self.fc(torch.flatten(self.block(x), 1))\n\n"
        "model = Net()\nprint(model(torch.randn(1, 1, 28, 28)).shape)\n\n"
        "class Block(nn.Module):\n    def forward(self, x):\n        return x\n\n"
        "class DummyModel(nn.Module):\n    def __init__(self):\n        super(DummyModel, self).__init__()\n"
        "        self.fc = nn.Linear(10, 10)\n\n"
        "model = DummyModel()\nprint(model.fc.weight.grad)\n"
    )
    fixed, notes = repair_model_source(code)
    assert notes == ["dropped usage code at line(s) 13, 14, 20, 25, 26"]
    assert "class Block" in fixed and "DummyModel" not in fixed and "model = Net" not in fixed
    assert check_model_source(fixed).ok


def test_star_imports_become_the_names_used_and_the_module_then_passes_the_checks():
    # The 1.5B model wrote `from typing import *` in 4 of 27 answers at 6a932d4, refused each time.
    code = "from typing import *\nfrom torch.nn import *\nimport torch\n" + MODEL.replace("nn.Module", "Module")
    code = code.replace("nn.Linear", "Linear").replace(
        "super().__init__()", "super().__init__()\n        self.widths: List[int] = []"
    )
    assert not check_model_source(code).ok
    fixed, notes = repair_model_source(code)
    assert fixed.startswith("from typing import List\nfrom torch.nn import Linear, Module\nimport torch\n")
    assert notes[:2] == [
        "replaced `from typing import *` with `from typing import List`",
        "replaced `from torch.nn import *` with `from torch.nn import Linear, Module`",
    ]
    assert check_model_source(fixed).ok, check_model_source(fixed).problems


def test_a_star_import_nothing_is_read_from_goes_and_one_of_a_refused_module_stays():
    unused = "from typing import *\nimport torch\nimport torch.nn as nn\n" + MODEL
    fixed, notes = repair_model_source(unused)
    assert "typing" not in fixed and notes[0] == "dropped `from typing import *` (no name from it is used)"
    refused = "from os import *\nimport torch\nimport torch.nn as nn\n" + MODEL.replace("784", "len(listdir())")
    fixed, _ = repair_model_source(refused)
    assert fixed.startswith("from os import *") and not check_model_source(fixed).ok


def test_lazy_linear_written_like_linear_gets_its_out_features_and_the_module_the_right_logits():
    # The 1.5B model's `LazyLinear(1024, num_classes)` (6a932d4): 1,024 outputs, bias=num_classes.
    code = MODEL.replace("nn.Linear(784, num_classes)", "nn.LazyLinear(1024, num_classes)")
    fixed, notes = repair_model_source(code)
    assert "nn.LazyLinear(num_classes)" in fixed
    assert "line 4: replace `nn.LazyLinear(1024, num_classes)` with `nn.LazyLinear(num_classes)`" in notes
    with_bias = MODEL.replace("nn.Linear(784, num_classes)", "nn.LazyLinear(num_classes, False)")
    assert "nn.LazyLinear(num_classes, False)" in repair_model_source(with_bias)[0]


def test_a_name_looked_up_on_the_wrong_module_is_taken_from_the_one_that_has_it():
    # The 1.5B model's `nn.relu(x)` (6a932d4: AttributeError in the dry run) and `torch.ReLU()`.
    code = MODEL.replace("return self.fc(torch.flatten(x, 1))", "return self.fc(torch.flatten(nn.relu(x), 1))")
    code = code.replace("super().__init__()", "super().__init__()\n        self.act = torch.ReLU()")
    fixed, notes = repair_model_source(code)
    assert "F.relu(x)" in fixed and "self.act = nn.ReLU()" in fixed
    assert fixed.startswith("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n")
    assert "line 4: replace `torch.ReLU` with `nn.ReLU`" in notes and check_model_source(fixed).ok


def test_names_the_module_has_or_that_are_bound_to_something_else_stay():
    code = "import torch.nn as nn\nimport torch\nF = object()\ny = torch.relu(nn.ReLU()(F.Dropout(x)))\n"
    assert repair_model_source(code)[0] == code
    private = "import torch\ny = torch._no_such_name\n"
    assert repair_model_source(private)[0] == private


def test_a_usage_example_that_does_not_parse_goes_from_where_it_breaks():
    """daae964: `` criterion = nn.CrossEntropyLoss()`` indented by one space after ``model = Net()``."""
    broken = MODEL + "\nmodel = Net(10)\n criterion = nn.CrossEntropyLoss()\nfor step in range(3):\n    model(x)\n"
    fixed, notes = repair_model_source(broken)
    assert check_model_source(fixed).ok, check_model_source(fixed).problems
    assert "model = Net" not in fixed and "criterion" not in fixed
    assert notes[0] == f"dropped usage code at line(s) {MODEL.count(chr(10)) + 2}"


def test_a_syntax_error_in_the_model_or_before_a_definition_is_left_to_the_fixer():
    in_the_model = MODEL.replace("super().__init__()", " super().__init__()")
    assert repair_model_source(in_the_model)[0] == in_the_model
    before_a_class = "model = Net(10)\n criterion = 1\n" + MODEL
    assert repair_model_source(before_a_class)[0] == before_a_class
