#!/usr/bin/env bash
# GPU training of the zoo, as the device machine runs it from the repository root (PYTHONPATH=.,
# python3 with CUDA PyTorch). Two generations:
#
# Issue 23, warm-restart campaign (configs/zoo-warm.yaml; docs/training.md): two GPU calls.
#   bash scripts/gpu_zoo.sh carry              # here: out/carry/train (train + Set5, ~40 MiB) and
#                                              #   out/carry/bench (Set5/Set14/B100 HR, ~20 MiB), lossless WebP
#   call 1, carry [out/carry/train], timeout_s 600:
#   bash scripts/gpu_zoo.sh campaign           # probe table, then train-campaign train until END_S (540) s;
#                                              #   candidates + logs -> $OUT/campaign.tgz.partNN
#   bash scripts/gpu_zoo.sh unpack DIR         # here: the parts in DIR -> out/carry/cand (and runs/campaign)
#   call 2, carry [out/carry/bench, out/carry/cand], timeout_s 300:
#   bash scripts/gpu_zoo.sh accept             # publish(device=cuda) each candidate on Set5/Set14/B100; the
#                                              #   ones better on all three -> $OUT/accept.tgz.partNN
#   bash scripts/gpu_zoo.sh install DIR        # here: the accepted weights and cards -> hpun_edge/weights
#   bash scripts/gpu_zoo.sh probe              # (optional call, nothing carried) the throughput table alone
# Without a GPU for call 2, `accept` runs here too: DEVICE=cpu BENCH=../shared/datasets.
#
# The H200 weights shipped before (configs/zoo-h200.yaml records what these stages chose; their
# `train` stage ran scripts/gpu_probe.py as it was then, `git show 9fcd995:scripts/gpu_probe.py`,
# which took MODEL SCALE and printed `probe MODEL xS BATCH it/s`):
#   bash scripts/gpu_zoo.sh train     # call 1: probe, x2 runs, then x3/x4 runs; run folders -> $OUT
#   bash scripts/gpu_zoo.sh continue  # call 2: a second cosine cycle for x2, then x3/x4 again -> $OUT
#   bash scripts/gpu_zoo.sh publish   # call 3: measure the nine on Set5/Set14/B100 (fp32) -> $OUT
#
# train: one process per variant on the one GPU at a time (the models are small: one alone leaves
# the GPU idle between kernel launches). First ~300 timed steps of each (scripts/gpu_probe.py: three
# x2 side by side, then six x3/x4 side by side), then `iterations` sized so that the three x2 runs
# end near T_X2 s and the six x3/x4 runs (each from the best weights of its variant's x2 run, all
# but the tail) near T_X34 s after the start; each run is `hpun-edge train`, the paper's recipe
# (batch 16, 48x48 LR patches, flips/rotations, L1, Adam 2e-4 cosine, bf16 autocast, channels_last).
# The data root DATA holds train/ (T91 + BSD200) and Set5/ (validation).
#
# continue: no probe (the rates of the train stage size it; see configs/zoo-h200.yaml): each x2 run
# starts from INIT/<model>_x2.safetensors (the train stage's x2 weights, tail included) for a second
# cosine cycle of Adam 2e-4 (three side by side), then each x3/x4 run starts from the new x2 weights
# (all but the tail; six side by side). No validation (Set5 stays behind for the size of the working
# tree); the final weights are what the publish stage measures.
#
# publish: `hpun_edge.publish.publish(..., device="cuda")` for every CAND/<model>_x<s>.safetensors
# (with its card <model>_x<s>.json and the note <model>_x<s>.note), data root BENCH (Set5, Set14,
# B100), into $OUT/pub; then Set5 of each published file again on the CPU (the figure the tests
# re-measure) to check the GPU fp32 measurement against it.
set -u
export PYTHONPATH=. PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 TQDM_MININTERVAL=60
OUT=${OUT:-out/gpu}
ROOT=${ROOT:-runs/zoo-h200}
DATA=${DATA:-.gpu_carry/data}
BENCH=${BENCH:-.gpu_carry/bench}
CAND=${CAND:-.gpu_carry/cand}
T_X2=${T_X2:-330}      # seconds after the start by which the x2 runs should end
T_X34=${T_X34:-535}    # ... and the x3/x4 runs
T_A=${T_A:-300}        # continue: when the x2 runs should end
T_B=${T_B:-535}        # continue: when the x3/x4 runs should end
LOAD_S=${LOAD_S:-30}   # allowance for a run's start (image decoding and degradation, CUDA start)
FILL=${FILL:-0.8}      # fraction of the probed rate counted on (loader, validation, checkpoints)
START=$(date +%s)
PY=${PY:-python3}   # here: PY=/path/to/.venv/bin/python for carry
mkdir -p "$OUT" "$ROOT"
elapsed() { echo $(( $(date +%s) - START )); }

# iterations for a run of probed rate R it/s that must end at T: floor(R*(T-now-LOAD_S)*FILL), in 100s
size_iters() {
  $PY -c "import sys; r, t = float(sys.argv[1]), float(sys.argv[2]); print(max(100, int(r * t * $FILL) // 100 * 100))" "$1" "$2"
}
rate_of() { awk -v m="$1" -v s="x$2" '$1 == "probe" && $2 == m && $3 == s {print $5}' "$ROOT/probe.txt"; }

train_run() {  # model scale iterations deadline_s [init weights]
  local m=$1 s=$2 it=$3 deadline=$4 init=${5:-}
  local every=$(( (it / 6 + 99) / 100 * 100 ))
  local extra=()
  [ -n "$init" ] && extra=(--init-from "$init")
  [ -n "${VAL:-}" ] && extra+=(--val-dataset "$VAL")
  timeout --signal=TERM --kill-after=10 "$deadline" $PY -m hpun_edge train --model "$m" --scale "$s" \
    --iterations "$it" --batch-size 16 --patch-size 48 --lr 2e-4 --workers "$WORKERS" --no-compile \
    --val-every "$every" --ckpt-every "$every" --log-every 100 --data "$DATA/train" --data-root "$DATA" \
    --run-dir "$ROOT/${m}_x$s" "${extra[@]}" < /dev/null > "$ROOT/${m}_x$s.out" 2>&1
  echo "$m x$s: exit $? after $(elapsed) s" | tee -a "$ROOT/phases.txt"
}

pack() {  # tar the run folders into $OUT parts of at most 15 MiB
  local files=()
  for d in "$ROOT"/hpun_*_x?; do
    [ -d "$d" ] || continue
    for f in "$d"/best.safetensors "$d"/best.json "$d"/final.json "$d"/log.csv "$d"/config.yaml "$d"/last.json; do
      [ -e "$f" ] && files+=("$f")
    done
    if [ -e "$d/final.safetensors" ] && ! cmp -s "$d/final.safetensors" "$d/best.safetensors" 2>/dev/null; then
      files+=("$d/final.safetensors")
    fi
    case "$d" in *_x2) for f in "$d"/last-*.safetensors; do [ -e "$f" ] && files+=("$f"); done ;; esac
    [ -d "$d/tb" ] && files+=("$d/tb")
  done
  files+=("$ROOT"/*.out "$ROOT"/probe.txt "$ROOT"/phases.txt "$ROOT"/plan.txt)
  tar czf - "${files[@]}" 2>/dev/null | split -b 15m -d - "$OUT/zoo-h200.tgz.part"
  ls -l "$OUT"
}

if [ "${1:-}" = train ]; then
  nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv | tee "$ROOT/phases.txt"
  $PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee -a "$ROOT/phases.txt"
  : > "$ROOT/probe.txt"
  for m in hpun_s hpun_m hpun_l; do $PY scripts/gpu_probe.py $m 2 >> "$ROOT/probe.txt" 2>&1 & done; wait
  for m in hpun_s hpun_m hpun_l; do for s in 3 4; do $PY scripts/gpu_probe.py $m $s >> "$ROOT/probe.txt" 2>&1 & done; done; wait
  cat "$ROOT/probe.txt"; echo "probes done after $(elapsed) s" | tee -a "$ROOT/phases.txt"

  WORKERS=3
  : > "$ROOT/plan.txt"
  for m in hpun_s hpun_m hpun_l; do
    it=$(size_iters "$(rate_of $m 2)" $(( T_X2 - $(elapsed) - LOAD_S )))
    echo "$m 2 $it" | tee -a "$ROOT/plan.txt"
    train_run $m 2 "$it" $(( T_X2 + 45 - $(elapsed) )) &
  done
  wait
  echo "x2 done after $(elapsed) s" | tee -a "$ROOT/phases.txt"

  WORKERS=2
  for m in hpun_s hpun_m hpun_l; do
    init="$ROOT/${m}_x2/best.safetensors"
    [ -e "$init" ] || { echo "$m: no x2 weights, x3/x4 skipped" | tee -a "$ROOT/phases.txt"; continue; }
    for s in 3 4; do
      it=$(size_iters "$(rate_of $m $s)" $(( T_X34 - $(elapsed) - LOAD_S )))
      echo "$m $s $it" | tee -a "$ROOT/plan.txt"
      train_run $m $s "$it" $(( T_X34 + 30 - $(elapsed) )) "$init" &
    done
  done
  wait
  echo "x3/x4 done after $(elapsed) s" | tee -a "$ROOT/phases.txt"
  grep -h "best Set5\|error" "$ROOT"/*.out
  pack
  echo "packed after $(elapsed) s"
elif [ "${1:-}" = continue ]; then
  INIT=${INIT:-.gpu_carry/init}
  VAL=none
  nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv | tee "$ROOT/phases.txt"
  # iterations: the train stage's effective rates (steps / wall, validation included) with these
  # processes side by side, times the seconds to the phase's end, times 0.95, in hundreds.
  WORKERS=3
  printf '%s\n' "hpun_s 2 6400" "hpun_m 2 6400" "hpun_l 2 4900" > "$ROOT/plan.txt"
  while read -r m s it; do
    train_run $m $s "$it" $(( T_A + 25 - $(elapsed) )) "$INIT/${m}_x2.safetensors" &
  done < "$ROOT/plan.txt"
  wait
  echo "x2 done after $(elapsed) s" | tee -a "$ROOT/phases.txt"
  WORKERS=2
  printf '%s\n' "hpun_s 3 2500" "hpun_s 4 2500" "hpun_m 3 2500" "hpun_m 4 2500" "hpun_l 3 2200" "hpun_l 4 2000" >> "$ROOT/plan.txt"
  while read -r m s it; do
    [ "$s" = 2 ] && continue
    init="$ROOT/${m}_x2/final.safetensors"
    [ -e "$init" ] || { echo "$m: no x2 weights, x$s skipped" | tee -a "$ROOT/phases.txt"; continue; }
    train_run $m $s "$it" $(( T_B + 20 - $(elapsed) )) "$init" &
  done < "$ROOT/plan.txt"
  wait
  echo "x3/x4 done after $(elapsed) s" | tee -a "$ROOT/phases.txt"
  grep -h "final weights\|error" "$ROOT"/*.out
  for d in "$ROOT"/hpun_*_x?; do echo "$d $(tail -1 "$d/log.csv")"; done
  pack
  echo "packed after $(elapsed) s"
elif [ "${1:-}" = publish ]; then
  mkdir -p "$OUT/pub"
  if [ -e "$BENCH/B100_LR_sha256.txt" ]; then
    $PY -c "
import hashlib, sys
from pathlib import Path
from hpun_edge.data import read_image
from hpun_edge.imresize import degrade, modcrop
root = Path(sys.argv[1])
bad = n = 0
for line in (root / 'B100_LR_sha256.txt').read_text().split(chr(10)):
    if not line.strip():
        continue
    rel, digest = line.split()
    scale, name = int(rel.split('/')[0][1:]), Path(rel).stem
    hr = read_image(next((root / 'B100' / 'HR').glob(name + '.*')))
    lr = degrade(modcrop(hr, scale), scale)
    got = hashlib.sha256(repr(lr.shape).encode() + lr.tobytes()).hexdigest()
    n += 1
    bad += got != digest
print('B100 LR check: %d of %d degraded LR images equal LR_bicubic' % (n - bad, n), flush=True)
" "$BENCH" > "$OUT/b100_lr_check.txt" 2>&1 &
  fi
  for w in "$CAND"/hpun_*_x?.safetensors; do
    n=$(basename "$w" .safetensors)
    $PY -c "
import sys
from hpun_edge.publish import publish
w, dest, root, note_file = sys.argv[1:5]
dest, card = publish(w, dest, data_root=root, note=open(note_file).read().strip(), device='cuda')
print(card.model, 'x%d' % card.scale, ' '.join('%s %.4f/%.5f' % (k, m['psnr_y'], m['ssim_y']) for k, m in card.metrics.items()), flush=True)
" "$w" "$OUT/pub" "$BENCH" "$CAND/$n.note" > "$OUT/pub/$n.log" 2>&1 &
  done
  wait
  cat "$OUT"/pub/*.log | grep -v "it/s\]" ; echo "published after $(elapsed) s"
  for w in "$OUT"/pub/hpun_*_x?.safetensors; do
    $PY -c "
import json, sys, torch
torch.set_num_threads(2)
from hpun_edge.data import find_dataset
from hpun_edge.evaluate import evaluate_dataset, model_upscaler
from hpun_edge.weights import model_from_weights
w, root = sys.argv[1:3]
m = model_from_weights(w)
r = evaluate_dataset(model_upscaler(m, m.scale), find_dataset('Set5', root), m.scale)
c = json.load(open(w[:-len('.safetensors')] + '.json'))['metrics']['Set5']
print('cpu-check', w.split('/')[-1], 'Set5 cpu %.4f/%.5f card %.4f/%.5f diff %.5f' % (r.psnr_y, r.ssim_y, c['psnr_y'], c['ssim_y'], r.psnr_y - c['psnr_y']), flush=True)
" "$w" "$BENCH" > "$OUT/pub/$(basename "$w" .safetensors).cpu" 2>&1 &
  done
  wait
  cat "$OUT"/pub/*.cpu | tee "$OUT/cpu_check.txt"
  echo "checked after $(elapsed) s"
  (cd "$OUT" && tar cf pub.tar pub && rm -rf pub && split -b 15m -d pub.tar pub.tar.part && rm pub.tar)
  ls -l "$OUT"
elif [ "${1:-}" = carry ]; then
  $PY -m hpun_edge train-campaign carry --data-root "${SRC:-../shared/datasets}" --out out/carry || exit 1
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  for part in train bench; do
    extra=$(du -sb out/carry/$part | cut -f1)
    [ $part = bench ] && extra=$(( extra + $(du -cb hpun_edge/weights/*.safetensors | tail -1 | cut -f1) ))  # candidates
    echo "call with out/carry/$part$([ $part = bench ] && echo ' + out/carry/cand (at most the size of the shipped weights)'):" \
      "$(( (tree + extra) / 1048576 )) MiB of the 64 MiB a call carries (source tree $(( tree / 1048576 )) MiB)"
  done
elif [ "${1:-}" = probe ]; then
  nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv
  $PY scripts/gpu_probe.py --graph-check --json "$OUT/probe.json" 2>&1 | tee "$OUT/probe.txt"
elif [ "${1:-}" = campaign ]; then
  set -o pipefail
  export TQDM_DISABLE=1  # no progress bars in the logs (the runs' lines and log.csv say it all)
  CROOT=${CROOT:-runs/campaign}
  END_S=${END_S:-540}   # seconds after the start by which training stops (the call's limit is 600)
  mkdir -p "$CROOT"
  nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv | tee "$OUT/campaign.txt"
  if [ "${PROBE:-1}" = 1 ]; then  # today's loop beside the fast one, random data: about a minute
    $PY scripts/gpu_probe.py --settings eager:16x48 fast:16x48 --together fast:16x48 --steps 30 --graph-check \
      --json "$OUT/probe.json" 2>&1 | tee "$OUT/probe.txt"
  fi
  echo "probe done after $(elapsed) s" | tee -a "$OUT/campaign.txt"
  $PY -m hpun_edge train-campaign train configs/zoo-warm.yaml --root "$CROOT" --data-root out/carry/train \
    --deadline-s $(( END_S - $(elapsed) )) 2>&1 | grep --line-buffered -v "it/s\]$" | tee -a "$OUT/campaign.txt"
  echo "train-campaign exit ${PIPESTATUS[0]} after $(elapsed) s" | tee -a "$OUT/campaign.txt"
  mkdir -p out/carry/cand && cp "$CROOT"/cand/* out/carry/cand/ 2>/dev/null
  files=(out/carry/cand "$CROOT/campaign.json")
  for d in "$CROOT"/runs/hpun_*_x?; do
    for f in log.csv train.log config.yaml best.json final.json final_ema.json last.json; do
      [ -e "$d/$f" ] && files+=("$d/$f")
    done
  done
  tar czf - "${files[@]}" 2>/dev/null | split -b 15m -d - "$OUT/campaign.tgz.part"
  ls -l "$OUT"; echo "packed after $(elapsed) s"
elif [ "${1:-}" = unpack ] || [ "${1:-}" = install ]; then
  what=$([ "$1" = unpack ] && echo campaign || echo accept)
  [ -n "${2:-}" ] && ls "$2"/$what.tgz.part* > /dev/null || { echo "usage: bash scripts/gpu_zoo.sh $1 DIR (DIR holds $what.tgz.partNN)" >&2; exit 2; }
  cat "$2"/$what.tgz.part* | tar xzvf - || exit 1
  [ "$1" = install ] && git status --short hpun_edge/weights
elif [ "${1:-}" = accept ]; then
  set -o pipefail
  export TQDM_DISABLE=1
  CROOT=${CROOT:-runs/campaign}
  $PY -m hpun_edge train-campaign accept configs/zoo-warm.yaml --root "$CROOT" --cand "${CANDS:-out/carry/cand}" \
    --bench-root "${BENCH:-out/carry/bench}" --device "${DEVICE:-cuda}" 2>&1 | grep --line-buffered -v "it/s\]$" | tee "$OUT/accept.txt"
  echo "accept exit ${PIPESTATUS[0]} after $(elapsed) s" | tee -a "$OUT/accept.txt"
  files=("$CROOT/accept.json" "$CROOT/measured")
  for n in $($PY -c "import json, sys; print(' '.join(d['name'] for d in json.load(open(sys.argv[1])) if d['accepted']))" "$CROOT/accept.json"); do
    files+=("hpun_edge/weights/$n.safetensors" "hpun_edge/weights/$n.json")
  done
  tar czf - "${files[@]}" | split -b 15m -d - "$OUT/accept.tgz.part"
  ls -l "$OUT"
else
  echo "usage: bash scripts/gpu_zoo.sh carry|probe|campaign|unpack DIR|accept|install DIR  (issue 23), train|continue|publish (H200 weights)" >&2
  exit 2
fi
