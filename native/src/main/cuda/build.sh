#!/usr/bin/env bash
# Compiles every native/src/main/cuda/*.cu into a fatbin (sm_80 + sm_90 cubins, compute_90 PTX; *_sm90a.cu: an sm_90a
# cubin alone) under
# target/classes/cuda/, so the jar carries them. Called by the Maven build (exec-maven-plugin,
# generate-resources). Without nvcc it warns and exits 0: the jar then has no kernels and the CUDA
# backend reports that it cannot run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../target/classes/cuda}
mkdir -p "$out"
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  echo "[WARNING] nvcc not found: CUDA kernels are not built; the cuda backend will be unavailable." >&2
  exit 0
fi
for cu in "$here"/*.cu; do
  name=$(basename "$cu" .cu)
  target="$out/$name.fatbin"
  # rebuild when the .cu or any header beside it is newer than the fatbin
  if [ -f "$target" ] && [ -z "$(find "$here" -maxdepth 1 \( -name "*.cu" -o -name "*.cuh" \) -newer "$target" -print -quit)" ]; then continue; fi
  # *_sm90a.cu: kernels on instructions only compute capability 9.0 has (wgmma); one cubin, no PTX to carry elsewhere
  case "$name" in
    *_sm90a) arch=(-gencode arch=compute_90a,code=sm_90a) ;;
    *) arch=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90) ;;
  esac
  "$nvcc" -O3 -std=c++17 -fatbin "${arch[@]}" -o "$target.tmp" "$cu"
  mv "$target.tmp" "$target"
  echo "[INFO] nvcc: $(basename "$cu") -> $target"
done
