#!/usr/bin/env bash
# Set up genlab on a fresh machine: system packages (when root with apt), a venv in .venv, genlab + extras.
# Idempotent: re-running only installs what is missing. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: ffmpeg decodes MUSDB18 .stem.mp4 files; Debian's dataset-fashion-mnist ships Fashion-MNIST;
# chromium + chromium-driver run the web UI's headless browser test (tests/e2e).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
  [ -d /usr/share/datasets/fashion-mnist ] || need="$need dataset-fashion-mnist"
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
  command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
  if [ -n "$need" ]; then
    echo "setup: apt-get install$need"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null) \
      || echo "setup: warning: could not install$need (audio decoding / Fashion-MNIST / browser test may be unavailable)"
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned in pyproject.toml (the CPU build on this project's machines); the rest resolves from PyPI.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[all,dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import genlab, torch; print(f'setup: genlab {genlab.__version__}, torch {torch.__version__}')"
