"""The sandboxed process that runs LLM-written model code (started by ``sandbox.py``, never imported).

It reads one JSON request on stdin and writes one JSON report on the stdout it was started with;
anything the model code prints goes to stderr. Before the code runs it arms three guards of its
own (the parent has already set resource limits, the working directory and, where the kernel
allows it, an empty network namespace): builtins without ``open``/``eval``/``getattr``..., an
``__import__`` that only knows the allowed modules, and an audit hook that refuses writes outside
the working directory, sockets, processes and native libraries. (``exec``, ``compile`` and module
loading stay open to torch's own lazy imports: the generated code has neither the builtins nor
the imports to reach them.)
Then it instantiates the class, forwards a batch, checks the output shape, counts parameters and
FLOPs against their budgets, runs backward and times one training step. Standard library and torch
only: this file runs under ``python -I`` with nothing of the parent's path.
"""

import builtins
import errno
import json
import linecache
import math
import os
import resource
import sys
import time
import traceback

SAFE_BUILTINS = (
    "abs all any bool bytes callable chr dict divmod enumerate filter float frozenset hash int isinstance "
    "issubclass iter len list map max min next ord pow print range repr reversed round set slice sorted str "
    "sum super tuple zip property staticmethod classmethod ArithmeticError AssertionError AttributeError "
    "Exception IndexError KeyError LookupError NotImplementedError RuntimeError StopIteration TypeError "
    "ValueError ZeroDivisionError NotImplemented Ellipsis None True False"
).split()
BLOCKED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.chown",
    "os.chdir",
    "os.putenv",
    "os.unsetenv",
    "os.startfile",
    "shutil.",
    "ctypes.",
    "_thread.start_new_thread",
    "pickle.find_class",
    "code.__new__",
    "function.__new__",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "webbrowser.",
)
# File-system changes allowed inside the working directory only (torch's lazy imports probe the temp dir).
PATH_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.truncate")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Blocked(RuntimeError):
    """An operation the sandbox refuses."""


class BlockedImport(ImportError):
    """An import the sandbox refuses (an ImportError, as the code would expect)."""


class OverBudget(ValueError):
    """The network is larger or costlier than the limits allow."""


def _arm_audit_hook(work_dir: str) -> None:
    work_dir = os.path.realpath(work_dir) + os.sep

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing and isinstance(path, (str, bytes)):
                target = os.path.realpath(os.fsdecode(path))
                if not target.startswith(work_dir):
                    raise Blocked(f"sandbox: writing {target!r} is not allowed")
            elif writing:
                raise Blocked("sandbox: writing to a file descriptor is not allowed")
            return
        if event in PATH_EVENTS:
            paths = [os.path.realpath(os.fsdecode(a)) for a in args if isinstance(a, (str, bytes))]
            if not paths or not all(p.startswith(work_dir) for p in paths):
                raise Blocked(f"sandbox: {event} outside the working directory is not allowed")
            return
        if event.startswith(BLOCKED_EVENTS):
            raise Blocked(f"sandbox: {event} is not allowed")

    sys.addaudithook(hook)


def _restricted_builtins(allowed_modules: list[str]) -> dict:
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)}
    safe["__build_class__"] = builtins.__build_class__
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 (the builtin's signature)
        if level or name not in allowed_modules:
            raise BlockedImport(f"sandbox: import of {name!r} is not allowed")
        return real_import(name, globals, locals, fromlist, level)

    safe["__import__"] = guarded_import
    return safe


def _trim_traceback(exc: BaseException) -> str:
    """The exception and the frames in the generated code (what a fixer needs), without ours."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<generated model>"]
    lines = [f"  line {f.lineno}, in {f.name}: {f.line or ''}".rstrip() for f in frames[-6:]]
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join(["Traceback (generated code frames):", *lines, text] if lines else [text])[:4000]


def _largest_layers(model) -> str:
    """Where the parameters are (the fixer of an over-budget network kept it unchanged without this:
    3 rounds, the same 3,475,980 parameters, at 71bb34c)."""
    sizes = [
        (sum(p.numel() for p in module.parameters(recurse=False)), name, type(module).__name__)
        for name, module in model.named_modules()
    ]
    top = sorted((s for s in sizes if s[0]), reverse=True)[:3]
    text = "Largest layers: " + ", ".join(f"self.{name} ({kind}) {n:,}" for n, name, kind in top) + "."
    if top and top[0][2] == "Linear":
        text += (
            " A linear layer reading a large feature map holds most of them: shrink the map before it "
            "(nn.AdaptiveAvgPool2d(1), or more pooling) or make it narrower."
        )
    return text


def _warm_up(torch, F, FlopCounterMode) -> None:  # noqa: N803 (the modules, passed in)
    """One training step of a small reference network, before the guards: torch imports parts of
    itself on first use (its compiler stack, on the first convolution), which the guards would refuse."""
    layers = [torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)]
    net = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Dropout(0.1), torch.nn.Linear(2, 2))
    with FlopCounterMode(display=False):
        loss = F.cross_entropy(net(torch.randn(2, 1, 5, 5)), torch.tensor([0, 1]))
    loss.backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()


def _run(request: dict, report: dict) -> None:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    torch.manual_seed(0)
    _warm_up(torch, F, FlopCounterMode)
    shape = [int(n) for n in request["input_shape"]]
    batch, classes = int(request["batch_size"]), int(request["num_classes"])
    source = request["source"]
    code = compile(source, "<generated model>", "exec")
    linecache.cache["<generated model>"] = (len(source), None, source.splitlines(True), "<generated model>")
    for name in request["allowed_modules"]:
        __import__(name)  # imported now, so the guarded import only hands out loaded modules
    namespace = {"__builtins__": _restricted_builtins(request["allowed_modules"]), "__name__": "generated_model"}
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime) + int(request["cpu_s"])
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))  # the code's own seconds from here
    _arm_audit_hook(request["work_dir"])
    report["stage"] = "define"
    exec(code, namespace)  # noqa: S102 (the point of this process; guarded above)
    report["stage"] = "instantiate"
    model = namespace[request["class_name"]](**{request["args"][0]: shape[0], request["args"][1]: classes})
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    report["stage"] = "forward"
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(x)
    report["stage"] = "output shape"
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (batch, classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"forward must return logits of shape {(batch, classes)} for a batch of {[batch, *shape]}, got {got}"
        )
    report["output_shape"] = list(out.shape)
    report["stage"] = "budget"
    params = sum(p.numel() for p in model.parameters())
    flops = int(counter.get_total_flops()) // batch
    report.update(params=params, flops_per_example=flops)
    if params > request["max_params"]:
        raise OverBudget(
            f"{params:,} parameters; the budget is {request['max_params']:,}: make the network smaller. "
            + _largest_layers(model)
        )
    if flops > request["max_flops"]:
        raise OverBudget(f"{flops:,} FLOPs per example; the budget is {request['max_flops']:,}: make it cheaper")
    if params == 0:
        raise ValueError("the network has no trainable parameters")
    report["stage"] = "backward"
    loss = F.cross_entropy(out, y)
    if not math.isfinite(float(loss)):
        raise ValueError(f"the loss on a random batch is {float(loss)}: check the output layer")
    loss.backward()
    if not any(p.grad is not None for p in model.parameters()):
        raise ValueError("no parameter received a gradient: is the output computed from the layers?")
    report["stage"] = "training step"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    start = time.perf_counter()
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    report["step_ms"] = round((time.perf_counter() - start) * 1000, 2)
    report["stage"] = "done"
    report["ok"] = True


CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


def _confine(request: dict) -> list[str]:
    """Limits and an empty network namespace, set by this process on itself before torch loads."""
    memory = int(request["memory_mb"]) * 2**20
    cpu = int(request["cpu_s"]) + int(request["startup_cpu_s"])  # narrowed once torch is ready (_run)
    for name, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (int(request["file_mb"]) * 2**20,) * 2),
        (resource.RLIMIT_NOFILE, (256, 256)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (64, 64)),
    ):
        resource.setrlimit(name, value)
    applied = ["resource limits"]
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
        if libc.unshare(flags) == 0:
            applied.append("network namespace")
    except OSError:
        pass  # no namespace here: the audit hook still refuses sockets
    return applied + ["guarded builtins and audit hook"]


def main() -> None:
    report_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the model code's prints go to stderr, not into the report
    report = {"ok": False, "stage": "start"}
    try:
        request = json.loads(sys.stdin.read())
        report["isolation"] = _confine(request)
        _run(request, report)
    except MemoryError:
        report["error"] = "MemoryError: the model needs more memory than the sandbox allows"
        report["stopped_by"] = "memory limit"
    except RecursionError as exc:
        report["error"] = _trim_traceback(exc)
        report["stopped_by"] = "recursion limit"
    except (Blocked, BlockedImport) as exc:
        report["error"] = str(exc)
        report["stopped_by"] = "sandbox guard"
    except OverBudget as exc:
        report["error"] = str(exc)
        report["stopped_by"] = "budget"
    except OSError as exc:
        report["error"] = _trim_traceback(exc)
        report["stopped_by"] = "file-size limit" if exc.errno == errno.EFBIG else "exception"
    except BaseException as exc:  # noqa: BLE001 (everything the code raises is reported, SystemExit included)
        report["error"] = _trim_traceback(exc)
        report["stopped_by"] = "memory limit" if "can't allocate memory" in str(exc) else "exception"
    report_stream.write(json.dumps(report))
    report_stream.flush()
    os._exit(0)  # no interpreter teardown: the code may have left objects whose finalizers misbehave


if __name__ == "__main__":
    main()
