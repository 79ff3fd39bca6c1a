#!/usr/bin/env bash
# Issue 14: train every 128×128 channel generator in ~2.3 CPU-hours, then measure them (docs/channels.md,
# "Reproducing the 128×128 table"). Two lanes, one per core (CPU-min measured on an AMD EPYC, load 2-4):
#   lane A: channels-diffusion-128 (1800 steps, ~73)                       (pixel-space DDPM, v-prediction)
#   lane B: channels-sgan (1200, ~35), channels-vaegan (460, ~19), channels-vae-fullconv (450, ~7),
#           channels-vae-dense (400, ~6)
# The step budgets are the presets' train.max_steps (src/genlab/config/presets.py, chosen from 25-30-step smoke runs;
# the table in docs/channels.md). Every run writes a resumable training state every 5 minutes and a snapshot at the
# end: re-running this script (or one `genlab train` line) resumes where it stopped, and finished runs are skipped.
#
#   bash benchmarks/channels_train_plan.sh            # train (2 lanes), then evaluate
#   bash benchmarks/channels_train_plan.sh train      # only train
#   bash benchmarks/channels_train_plan.sh eval       # only the evaluation (needs the five snapshots)
#   LANES=1 bash benchmarks/channels_train_plan.sh    # one run after another on one core (~2.3 h wall)
#
# Environment: RUNS (default runs), GENLAB_DATA_DIR (default ../shared/data), PY (default .venv/bin/python),
# N (compare samples per model, default 300), NENS (ES-MDA ensemble, default 200), NASSIM (default 4),
# NCOND (inpainted realizations per truth, default 8), TRUTHS (default 3).
# Evaluation on top of the training, ~75 CPU-min (estimates in docs/channels.md §7): ES-MDA at 128 px with 200
# members and Na 4 costs ~3 CPU-min per truth (measured), 12 of them in the comparison and 3 in the conditioning
# benchmark; 300 diffusion samples at 20 steps and 24 RePaint inpaintings (~250 network calls each).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
PY=${PY:-.venv/bin/python}
LANES=${LANES:-2}
N=${N:-300}; NENS=${NENS:-200}; NASSIM=${NASSIM:-4}; NCOND=${NCOND:-8}; TRUTHS=${TRUTHS:-3}
export GENLAB_DATA_DIR=${GENLAB_DATA_DIR:-../shared/data}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
LOG=$RUNS/channels-plan
mkdir -p "$LOG"
LANE_A=(channels-diffusion-128)
LANE_B=(channels-sgan channels-vaegan channels-vae-fullconv channels-vae-dense)
ALL=(channels-vae-dense channels-vae-fullconv channels-sgan channels-vaegan channels-diffusion-128)

finished() {  # the run's snapshot has reached its preset's max_steps
  "$PY" - "$RUNS/$1" "$1" <<'PY' 2>/dev/null
import sys
from genlab import api
from genlab.config.presets import resolve
h = api.load(api.find_snapshot(sys.argv[1]), device="cpu").info
sys.exit(0 if (h.step or 0) >= resolve(sys.argv[2]).train.max_steps else 1)
PY
}

train_one() {
  if finished "$1"; then echo "$(date +%T) $1: finished, skipped"; return 0; fi
  echo "$(date +%T) $1: training (log $LOG/$1.log; load $(cut -d' ' -f1-3 /proc/loadavg))"
  nice -n 5 "$PY" -m genlab train "$1" train.threads=1 -q --run-dir "$RUNS/$1" >>"$LOG/$1.log" 2>&1
  echo "$(date +%T) $1: $(tail -1 "$LOG/$1.log")"
}

lane() { for r in "$@"; do train_one "$r"; done; }

train_all() {
  if [ "$LANES" = 1 ]; then
    lane "${LANE_B[@]}" "${LANE_A[@]}"
  else
    lane "${LANE_A[@]}" & a=$!
    lane "${LANE_B[@]}" & b=$!
    wait $a; wait $b
  fi
}

evaluate() {
  for r in "${ALL[@]}"; do finished "$r" || { echo "$r is not finished; run: bash $0 train" >&2; exit 2; }; done
  # 1. the comparison table: every realism metric with its floor, diversity, CPU minutes, realizations/s, the
  #    fraction of the matmul peak, the train-step benchmark and ES-MDA in each latent model's space
  nice -n 5 "$PY" benchmarks/channels_compare.py "${ALL[@]/#/$RUNS/}" -n "$N" --threads 1 \
    --esmda-truths "$TRUTHS" --esmda-n-ens "$NENS" --esmda-n-assim "$NASSIM" --report-dir "$LOG/compare" \
    >"$LOG/compare.log" 2>&1
  # 2. the best latent model (lowest facies-net Fréchet among VAE, VAE-GAN and GAN) for the conditioning comparison
  best=$("$PY" -c "import json; rs = [r for r in json.load(open('benchmarks/results/channels_compare.json'))['runs']
if r.get('has_latent_code', True)]; print(min(rs, key=lambda r: r['metrics']['fake']['facies_frechet'])['source'])")
  echo "best latent model: $best"
  nice -n 5 "$PY" benchmarks/channels_conditioning.py --latent "$best" --diffusion "$RUNS/channels-diffusion-128" \
    --truths "$TRUTHS" --n-ens "$NENS" --n-assim "$NASSIM" --n-cond "$NCOND" --report-dir "$LOG/conditioning" \
    >"$LOG/conditioning.log" 2>&1
  # 3. grids for docs/channels.md: 128×128 samples of every model beside held-out training images, ES-MDA vs
  #    inpainting per truth (copied, not committed by this script)
  mkdir -p docs/images/channels128
  cp "$LOG"/compare/*-samples.png "$LOG"/compare/*-interpolation.png "$LOG"/conditioning/*.png docs/images/channels128/
  echo "tables: benchmarks/results/channels_compare.md, benchmarks/results/channels_conditioning.md;" \
       "grids: docs/images/channels128/"
}

case "${1:-all}" in
  train) train_all ;;
  eval) evaluate ;;
  all) train_all; evaluate ;;
  *) echo "usage: $0 [train|eval|all]" >&2; exit 2 ;;
esac
