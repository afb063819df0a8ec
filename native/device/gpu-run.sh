#!/usr/bin/env bash
# Runs CUDA checks and benchmarks on the GPU machine from the folder built by native/device/pack.sh, writing each
# step's output to $OUT/<step>.log (<step>-2.log for a repeated step; and the console). Steps: check, check8 (the INT8 checks only), checkquick (the
# attention kernels and every fixture at batch 1 only), checksk (the split-K kernels only), checktma (the TMA-fed kernels, then the BF16 fixtures with 2..8 rows through them), checkwg (the warpgroup-MMA prompt GEMM, then the BF16 fixtures with every prompt GEMM through it), checkfix (the fixtures only,
# batched and one prompt at a time), zerocheck, bench[:parts],
# zero[:sources[/batches]], kv, dp[:bench], tp[:args], pp[:args], hf[:1|only], cli[:batch], cli8[:batch] (the CLI with
# --precision int8), ncu[:parts] (CudaBench parts, default prof, under Nsight Compute: launch, occupancy, speed-of-light,
# memory and warp-stall sections of every kernel into $OUT/ncu.txt), nsys[:parts] (CudaBench parts, default graphsteps,
# under Nsight Systems with every graph node traced; GraphGaps then prints per graph where its time goes between kernels;
# -Dfathom.bench.graphVariants=a,b picks the routings, comparison parts of CudaBench, default llama48,nv6),
# pverdict[:a,b] (CudaBench part prefillsteps over prompt-GEMM routings a,b, default nowgemm,wgon, three rounds after an untimed one: cuBLAS against wgemmt in the 128-token prefill, with a verdict),
# verdict[:a,b,c] (CudaBench part graphsteps over routings a,b,c, default llama48,old48: the defaults against the routing before the twenty-ninth session, at 2, 4 and 8 rows,
# twice round, the first the baseline; ends with the table and which routing, if any, should become the default).
# Example (device tool, carry .device/cuda):  bash .device/cuda/gpu-run.sh check bench:prompt,llama zero
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" nv
# FATHOM_JOPTS: extra JVM options for every step (e.g. -Dfathom.cuda.attTileRows=64)
J=(./jre/bin/java ${FATHOM_JOPTS:-} -Dfathom.bench.out="$OUT" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx100g -cp 'lib/*')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
rc=0
for step in "$@"; do
  name=${step%%:*}; arg=${step#*:}; [ "$arg" = "$step" ] && arg=""
  echo "=== $step ($(date -u +%T))"
  log=$OUT/$name.log; n=2; while [ -e "$log" ]; do log=$OUT/$name-$n.log; n=$((n+1)); done   # bench:a bench:b keep both logs
  case $name in
    check) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures ;;
    check8) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures int8 ;;
    checkquick) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures quick ;;
    checksk) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures splitk ;;
    checktma) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures tma ;;
    checkwg) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures wgemm ;;
    checkfix) "${J[@]}" dev.fathom.cuda.CudaSelfCheck fixtures fixtures ;;
    zerocheck) "${J[@]}" -Dfathom.nvme="$PWD/nv" dev.fathom.cuda.CudaZeroBench check fixtures ;;
    bench) "${J[@]}" dev.fathom.cuda.CudaBench ${arg//,/ } ;;
    zero) src=${arg%%/*}; bat=${arg#*/}; [ "$bat" = "$arg" ] && bat=""   # zero:host,nvme/32,64
          "${J[@]}" -Dfathom.nvme="$PWD/nv" ${src:+-Dfathom.zero.sources=$src} ${bat:+-Dfathom.zero.batches=$bat} dev.fathom.cuda.CudaZeroBench bench ;;
    kv) "${J[@]}" dev.fathom.cuda.CudaZeroBench kv ;;
    dp) "${J[@]}" dev.fathom.cuda.CudaZeroBench dpcheck fixtures ${arg:+dpbench} ;;
    tp) "${J[@]}" dev.fathom.cuda.CudaTpBench ${arg//,/ } ;;
    pp) "${J[@]}" dev.fathom.cuda.CudaPpBench ${arg//,/ } ;;
    hf) FATHOM_HF_COMPILE=${arg:-} python3 hf_compare.py ;;   # hf:1 adds the static-cache compiled runs, hf:only runs just those
    cli) "${J[@]}" dev.fathom.app.Main bench --model synthetic:llama-7b --backend cuda --batch "${arg:-1}" --prompt-len 128 --new-tokens 8 --runs 3 --json "$OUT/bench-cli.json" ;;
    cli8) "${J[@]}" dev.fathom.app.Main bench --model synthetic:llama-7b --backend cuda --precision int8 --batch "${arg:-1}" --prompt-len 128 --new-tokens 8 --runs 3 --json "$OUT/bench-cli8.json" ;;
    ncu) NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
         if [ -z "$NCU" ]; then echo "ncu not found"; false; else
           "$NCU" --clock-control none --target-processes all --section LaunchStats --section Occupancy --section SpeedOfLight \
             --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --export "$OUT/prof" --force-overwrite \
             "${J[@]}" dev.fathom.cuda.CudaBench ${arg:-prof} > "$OUT/ncu-run.txt" 2>&1; r=$?
           tail -5 "$OUT/ncu-run.txt"
           "$NCU" --import "$OUT/prof.ncu-rep" --print-details all > "$OUT/ncu.txt" 2>&1 || "$NCU" --import "$OUT/prof.ncu-rep" > "$OUT/ncu.txt" 2>&1
           "$NCU" --import "$OUT/prof.ncu-rep" --page raw --csv > "$OUT/ncu-raw.csv" 2>&1
           grep -E "^  [A-Za-z_].*\(|Duration|DRAM Throughput|Registers Per|Grid Size|Cluster Size|Achieved Occupancy|Warp Cycles Per Issued" "$OUT/ncu.txt" | head -300
           (exit $r); fi ;;
    nsys) NSYS=$(command -v nsys || ls /opt/nvidia/nsight-systems/*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys /usr/local/cuda/bin/nsys /usr/local/cuda*/nsight-systems*/bin/nsys 2>/dev/null | head -1)
          if [ -z "$NSYS" ]; then echo "nsys not found (looked on PATH, in /opt/nvidia/nsight-systems* and /usr/local/cuda*)"; ls -d /opt/nvidia/* /usr/local/cuda*/ 2>/dev/null; false; else
            rep=${log%.log}
            "$NSYS" profile --trace=cuda --cuda-graph-trace=node --sample=none --cpuctxsw=none --force-overwrite true -o "$rep" \
              "${J[@]}" dev.fathom.cuda.CudaBench ${arg:-graphsteps} > "$rep-run.txt" 2>&1; r=$?
            grep -E "graph [0-9]+:|routing:|SKIP|rror" "$rep-run.txt" | head -40
            "$NSYS" stats --report cuda_gpu_trace --format csv --force-export true --output "$rep" "$rep.nsys-rep" > "$rep-stats.txt" 2>&1
            ls "$rep"*cuda_gpu_trace*.csv >/dev/null 2>&1 || tail -5 "$rep-stats.txt"
            "${J[@]}" dev.fathom.cuda.GraphGaps "$(ls "$rep"*cuda_gpu_trace*.csv | head -1)" || r=1
            gzip -f "$rep"*cuda_gpu_trace*.csv   # the kernel list of every launch, 10-20 MB as text
            (exit $r); fi ;;
    pverdict) "${J[@]}" -Dfathom.bench.prefillVariants="${arg:-nowgemm,wgon}" -Dfathom.bench.graphRounds=3 dev.fathom.cuda.CudaBench prefillsteps ;;
    verdict) "${J[@]}" -Dfathom.bench.graphVariants="${arg:-llama48,old48}" -Dfathom.bench.graphRows=2,4,8 -Dfathom.bench.graphRounds=2 \
               dev.fathom.cuda.CudaBench graphsteps ;;
    *) echo "unknown step $step"; false ;;
  esac > >(tee "$log") 2>&1 || rc=1
done
exit $rc
