#!/usr/bin/env bash
# Packs what the GPU machine needs to run the CUDA checks and benchmarks (it has no Java, Maven or network):
# a Java 25 runtime, the runtime jars (DJL's tokenizer jar slimmed to its linux-x86_64 library so the whole
# tree stays under the 64 MiB the device tool carries), the fixtures and the HF baseline script.
# Usage, after `mvn -o -B verify -DskipTests` (or package) built every module's jar in the checkout:
#   native/device/pack.sh [/path/to/main/checkout]      -> <checkout>/.device/cuda (git-ignored; name it in carry)
# On the device:  cd .device/cuda && native-run (see docs/benchmarks.md "CUDA backend").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$root}/.device/cuda
shared=${FATHOM_SHARED:-$root/../shared}
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/fixtures"
(cd "${1:-$root}" && bash "$shared/device/pack-jre.sh" .device/cuda/jre)
# libjvm.so's symbol tables (5 MB) are not needed to run: keeps the tree under the carry limit
if command -v strip >/dev/null; then strip --strip-unneeded "$dest/jre/lib/server/libjvm.so"; fi
cp=$(mktemp)
(cd "$root" && mvn -q -B -o dependency:build-classpath -pl native -Dmdep.outputFile="$cp" -Dmdep.includeScope=runtime >/dev/null)
tr ':' '\n' < "$cp" | while read -r j; do cp "$j" "$dest/lib/"; done
rm -f "$cp"
rm -f "$dest"/lib/junit-* "$dest"/lib/opentest4j-* "$dest"/lib/apiguardian-*   # test scope, not needed there
# DJL's model-zoo helpers (the tokenizer's JNI library does not use them): keeps the tree under the carry limit
rm -f "$dest"/lib/jna-* "$dest"/lib/commons-compress-*
tok=$(ls "$dest"/lib/tokenizers-*.jar)
zip -q -d "$tok" 'native/lib/win-*' 'native/lib/osx-*' 'native/lib/linux-aarch64/*' || true
# the project's own jars from this checkout's build (never a copy from ~/.m2, which may be another build's)
rm -f "$dest"/lib/fathom-*.jar
for m in profiles engine native app; do cp "$root"/$m/target/fathom-$m-*.jar "$dest/lib/"; done
# the CLI (dev.fathom.app.Main bench/generate) needs picocli beside the app jar; JavaFX is not needed for it
cp "$(find ~/.m2/repository/info/picocli/picocli -name 'picocli-*.jar' ! -name '*sources*' | sort | tail -1)" "$dest/lib/"
for f in gpt2-tiny llama-tiny llama-tiny-bf16 gpt-neox-tiny opt-tiny mixtral-tiny; do cp -r "$shared/fixtures/$f" "$dest/fixtures/"; done
cp "$root/native/src/test/python/hf_compare.py" "$root/native/device/gpu-run.sh" "$dest/"
du -sh "$dest"
