#!/usr/bin/env bash
# Builds fathom.app, a .dmg and a .pkg on macOS (run it on a Mac: jpackage makes only the host's formats).
# Needs a JDK 25 (JAVA_HOME) and Maven; Xcode command-line tools for the .pkg.
# The Maven profile picks the mac JavaFX jars (mac, or mac-aarch64 on Apple silicon) and the dmg + pkg
# types by itself. Unsigned by default; to sign, give a Developer ID and the dmg is made again, signed:
#   ./installers/macos/build-macos.sh
#   SIGN_ID="Developer ID Application: Example (TEAMID)" ./installers/macos/build-macos.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mvn -B -Pinstallers -DskipTests package
if [ -n "${SIGN_ID:-}" ]; then
  t=installers/target
  "$JAVA_HOME/bin/jpackage" --type dmg --name fathom --app-version 0.1.0 --vendor Fathom \
    --app-image "$t/image/fathom.app" --dest "$t/dist/signed" --mac-package-name Fathom \
    --mac-sign --mac-signing-key-user-name "$SIGN_ID"
fi
ls -lR installers/target/dist
