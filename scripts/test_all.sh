#!/usr/bin/env bash
# Set up and run the tests of both products: genlab (root) and gymchain (gym/). This is what .ci/run calls.
# Each product keeps its own venv (.venv, gym/.venv); the script fails if either suite fails, after running both.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
bash scripts/setup.sh || exit 1
echo "== genlab tests =="
.venv/bin/python -m pytest || status=1
echo "== gymchain tests =="
if bash gym/scripts/setup.sh; then
  (cd gym && .venv/bin/python -m pytest) || status=1
else
  echo "gymchain: setup failed"; status=1
fi
exit $status
