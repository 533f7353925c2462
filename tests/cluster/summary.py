"""Runs one of this folder's cluster scripts in its own process (it owns its Ray) and reads its summary."""

from __future__ import annotations

import json
import subprocess
import sys


def run_summary(module: str, *args: str) -> dict:
    """``python -m <module> <args>``; the JSON of its last ``SUMMARY `` line (the test fails with stderr otherwise)."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("SUMMARY ") :])
