#!/usr/bin/env bash
# The GPU check, for a machine with CUDA (not part of CI): the generation bench on CUDA, then captioning
# split across two processes by torchrun (NCCL) compared with one process. Prints what it measured;
# without a GPU it says so and exits 0.
#
#     bash bench/gpu.sh            # from the repository root, after `make install`
set -euo pipefail
PY=${PY:-.venv/bin/python}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "bench/gpu.sh: no CUDA GPU here; nothing to check"
    exit 0
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0), 'x', torch.cuda.device_count())"
echo "== generation bench on CUDA"
"$PY" bench/generation.py --images 256 --tokens 32 --batch-size 64
echo "== captioning: one process vs two torchrun processes (NCCL)"
OUT=$(mktemp -d)
export VLMGRADE_CACHE="$OUT/cache-1.sqlite"
start=$(date +%s.%N)
"$PY" -m vlmgrade caption --model nanovlm-mini-scenes --data scenes-short:test --limit 1000 --out "$OUT/one.jsonl" --quiet
one=$(echo "$(date +%s.%N) - $start" | bc)
export VLMGRADE_CACHE="$OUT/cache-2.sqlite"
start=$(date +%s.%N)
"$(dirname "$PY")/torchrun" --nproc-per-node 2 -m vlmgrade caption --model nanovlm-mini-scenes \
    --data scenes-short:test --limit 1000 --out "$OUT/two.jsonl" --quiet
two=$(echo "$(date +%s.%N) - $start" | bc)
same=$(cmp -s "$OUT/one.jsonl" "$OUT/two.jsonl" && echo true || echo false)
echo "one process ${one}s, two processes ${two}s; same captions: $same"
echo "{\"one_process_s\": $one, \"two_processes_s\": $two, \"same_captions\": $same}"
