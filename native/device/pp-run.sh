#!/usr/bin/env bash
# Pipeline parallelism on two GPUs, one command (device tool, kind nvidia-h200-x2, carry .device/cuda):
#   cp native/device/pp-run.sh .device/cuda/ && then on the device: bash .device/cuda/pp-run.sh
# 1. CudaPpBench: fixtures under --pp 2 (both schedules) + llama-7b PP=1 vs PP=2 with bubble fractions
# 2. the CLI: fathom generate --backend cuda --pp 2 on llama-7b (prints the bubble line)
# 3. regression: the TP=2 fixtures (CudaTpBench fixtures)
# Logs under $OUT; the summaries are printed last.
set -uo pipefail
cd "$(dirname "$0")"   # the packed folder: pack.sh output with this script copied in
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
set -f
J=(./jre/bin/java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx100g -cp 'lib/*')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
nvidia-smi topo -m > "$OUT/topo.txt" 2>&1
echo "=== pp bench ($(date -u +%T))"
timeout -s QUIT -k 15 ${PP_BENCH_S:-170} "${J[@]}" dev.fathom.cuda.CudaPpBench fixtures fixtures llama > "$OUT/pp.log" 2>&1; echo "pp rc=$?" | tee -a "$OUT/pp.log"
ids=$(for s in 1 2 3 4; do seq -s, $((s * 100)) $((s * 100 + 15)); done | paste -sd';')
echo "=== cli ($(date -u +%T))"
timeout -k 10 ${CLI_S:-55} "${J[@]}" dev.fathom.app.Main generate --model synthetic:llama-7b --backend cuda --pp 2 --gen-microbatches 2 \
  --prompt-ids "$ids" --max-new-tokens 16 --no-eos-stop > "$OUT/cli.log" 2>&1; echo "cli rc=$?" | tee -a "$OUT/cli.log"
echo "=== tp fixtures ($(date -u +%T))"
timeout -k 10 ${TP_S:-40} "${J[@]}" dev.fathom.cuda.CudaTpBench fixtures fixtures > "$OUT/tp.log" 2>&1; echo "tp rc=$?" | tee -a "$OUT/tp.log"
echo "=== done ($(date -u +%T))"
grep -E "fixtures under|FAIL|Exception" "$OUT/tp.log" | head -5
tail -4 "$OUT/cli.log"
sed -n '/^== fixtures/,$p' "$OUT/pp.log" | grep -vE "^\s+at " | tail -60
