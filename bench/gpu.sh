#!/usr/bin/env bash
# The GPU path on the embedded model, end to end, in a few minutes on one CUDA machine:
#   1. a bf16 tune on CUDA       2. a 4-bit (bitsandbytes NF4) tune       3. a draft with each adapter
#   4. the promotion gate's verdict for each (adapters list)                5. the `gpu` tests (pytest -m gpu)
# Run from the repository root with the venv set up:  bash bench/gpu.sh [WORKDIR]
# Needs a CUDA build of torch in .venv (the CPU pin does not see GPUs):
#   .venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
# and bitsandbytes for step 2 (`.venv/bin/pip install bitsandbytes`; the script tries when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BB=.venv/bin/blogbot
WORK=${1:-$(mktemp -d /tmp/blogbot-gpu-XXXX)}
mkdir -p "$WORK"
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
assert torch.cuda.is_available(), "no CUDA torch: install a CUDA build of torch into .venv first (see the header)"
print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PY
$PY -c "import bitsandbytes" 2>/dev/null || .venv/bin/pip install -q bitsandbytes || echo "bitsandbytes missing: step 2 will fail"

run_arm() {  # name, extra model keys
  local name=$1 extra=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  cat > "$dir/config.yaml" <<YAML
data_dir: data
topics_file: topics.yaml
model:
  device: cuda
$extra
tune:
  max_steps: 60
  max_minutes: 5
  eval_every: 10
generate:
  max_new_tokens: 300
YAML
  echo "== $name: ingest, tune, draft"
  local t0=$SECONDS
  $BB -c "$dir/config.yaml" ingest examples/demo/posts
  $BB -c "$dir/config.yaml" tune --force
  echo "-- $name tune: $((SECONDS - t0)) s"
  $BB -c "$dir/config.yaml" adapters list
  t0=$SECONDS
  $BB -c "$dir/config.yaml" write "동네 빵집에서 산 소금빵 이야기" --no-stream
  echo "-- $name draft: $((SECONDS - t0)) s"
  $PY - "$dir" <<'PY'
import json, sys
from pathlib import Path
from bot.core import config, store
cfg = config.load(Path(sys.argv[1]) / "config.yaml")
db = store.open_db(cfg.data_path)
for a in db.query("select version, status, reason, metrics from adapters"):
    m = json.loads(a["metrics"] or "{}")
    print("gate:", a["version"], a["status"], "|", a["reason"], "| ppl base", m.get("held_out_ppl_base"),
          "adapter", m.get("held_out_ppl_adapter"), "| tok/s", m.get("tokens_per_s"), "| peak GPU GiB",
          m.get("peak_gpu_gib", m.get("peak_memory_gib")))
for d in db.query("select id, new_tokens, duration_s, params from drafts"):
    print("draft:", d["id"], d["new_tokens"], "tokens in", d["duration_s"], "s; dtype",
          json.loads(d["params"] or "{}").get("dtype"))
PY
}

run_arm bf16 "  dtype: bfloat16"
run_arm nf4 "  load_in_4bit: true"
echo "== pytest -m gpu"
$PY -m pytest -q -m gpu || true
echo "== done: $WORK"
