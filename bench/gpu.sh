#!/usr/bin/env bash
# The GPU path on the embedded model, end to end, in a few minutes on one CUDA machine:
#   1. a bf16 tune on CUDA       2. a 4-bit (bitsandbytes NF4) tune       3. a draft with each adapter
#   4. the promotion gate's verdict for each (adapters list)                5. the `gpu` tests (pytest -m gpu)
# Run from the repository root with the venv set up:  bash bench/gpu.sh [WORKDIR]
# Needs a CUDA build of torch in .venv (the CPU pin does not see GPUs):
#   .venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
# and bitsandbytes for step 2 (`.venv/bin/pip install bitsandbytes`).
# Environment:
#   PY=python3        another interpreter with blogbot's requirements importable (default .venv/bin/python)
#   DEVICE=cpu        a dry run of the same steps on a CPU (bf16 arm only, fewer steps): checks the script itself
#   STEPS=60          tune steps per arm
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-60}
WORK=${1:-$(mktemp -d /tmp/blogbot-gpu-XXXX)}
mkdir -p "$WORK"
bb() { "$PY" -m bot.shell.cli "$@"; }
echo "== machine"
if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; fi
DEVICE=$DEVICE "$PY" - <<'PY'
import os

import torch

print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if os.environ["DEVICE"] == "cuda":
    assert torch.cuda.is_available(), "no CUDA torch: install a CUDA build of torch first (see the header)"
    print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
    try:
        import bitsandbytes
        print("bitsandbytes", bitsandbytes.__version__)
    except ImportError:
        print("bitsandbytes missing: the nf4 arm will fail with a clear error")
PY

run_arm() {  # name, extra model keys
  local name=$1 extra=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  # One model cache for both arms: the embedded GGUF is converted once.
  cat > "$dir/config.yaml" <<YAML
data_dir: data
topics_file: topics.yaml
model:
  device: $DEVICE
  cache_dir: $WORK/models
$extra
tune:
  max_steps: $STEPS
  max_minutes: 5
  eval_every: 10
generate:
  max_new_tokens: 300
YAML
  echo "== $name: ingest, tune, draft"
  local t0
  bb -c "$dir/config.yaml" ingest examples/demo/posts || return 1
  t0=$SECONDS
  bb -c "$dir/config.yaml" tune --force || return 1
  echo "-- $name tune (conversion of the GGUF included on the first arm): $((SECONDS - t0)) s"
  bb -c "$dir/config.yaml" adapters list
  t0=$SECONDS
  # exit 3 = the draft was held back by a gate: still a finished generation (the gates' verdict is printed below)
  bb -c "$dir/config.yaml" write "동네 빵집에서 산 소금빵 이야기" --no-stream || echo "-- write exit $?"
  echo "-- $name draft: $((SECONDS - t0)) s"
  "$PY" - "$dir" <<'PY'
import json
import sys
from pathlib import Path

from bot.core import config, store

cfg = config.load(Path(sys.argv[1]) / "config.yaml")
db = store.open_db(cfg.data_path)
for a in db.query("select version, status, reason, metrics from adapters"):
    m = json.loads(a["metrics"] or "{}")
    print("gate:", a["version"], a["status"], "|", a["reason"], "| ppl base", m.get("held_out_ppl_base"),
          "adapter", m.get("held_out_ppl_adapter"), "| voice", m.get("voice_gain"), "| steps", m.get("steps"),
          "in", m.get("seconds"), "s,", m.get("tokens_per_s"), "train tok/s | peak GPU GiB", m.get("peak_gpu_gib"))
for d in db.query("select id, status, new_tokens, duration_s, tokens_per_s, params, gates from drafts"):
    params = json.loads(d["params"] or "{}")
    failed = [g["name"] for g in json.loads(d["gates"] or "[]") if not g.get("passed")]
    print("draft:", d["id"], d["status"], "|", d["new_tokens"], "tokens in", d["duration_s"], "s =",
          d["tokens_per_s"], "tok/s | dtype", params.get("dtype"), "| gates failed:", failed)
PY
}

# An arm that fails is reported and the next one still runs.
run_arm bf16 "  dtype: bfloat16" || echo "== bf16 arm FAILED"
if [ "$DEVICE" = cuda ]; then
  run_arm nf4 "  load_in_4bit: true" || echo "== nf4 arm FAILED"
  echo "== pytest -m gpu"
  "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_model_base.py || echo "-- pytest exit $?"
fi
echo "== done: $WORK"
