#!/usr/bin/env bash
# Every GPU measurement in at most 12 minutes, one report: see eval/gpu_suite.py.
#   bash eval/gpu_suite.sh --out runs/gpu_suite      # on a GPU
#   bash eval/gpu_suite.sh --dry --out /tmp/suite    # the same steps on the CPU, tiny sizes (the test runs this)
# The interpreter: $PYTHON, else the repository's .venv, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m eval.gpu_suite "$@"
