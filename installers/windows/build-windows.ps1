# Builds Fathom as an .msi and an .exe installer on Windows (jpackage makes only the host's formats).
# Needs: a JDK 25 (JAVA_HOME), Maven, and the WiX Toolset on PATH (jpackage uses WiX 3 `candle`/`light`
# or WiX 4+ `wix` to build both .msi and .exe).
# The Maven profile picks the Windows JavaFX jars (classifier win) and the msi + exe types by itself,
# with a Start-menu entry, a desktop shortcut and a folder chooser. It adds two launchers:
#   fathom.exe      opens the workbench (no console window)
#   fathom-cli.exe  the command line (a console program): fathom-cli run --profile p.json
#
#   powershell -ExecutionPolicy Bypass -File installers\windows\build-windows.ps1
$ErrorActionPreference = "Stop"
$root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $root
if (-not (Get-Command candle.exe -ErrorAction SilentlyContinue) -and -not (Get-Command wix.exe -ErrorAction SilentlyContinue)) {
    Write-Error "jpackage needs the WiX Toolset for .msi/.exe: install it (https://wixtoolset.org) and put it on PATH."
}
mvn -B -Pinstallers -DskipTests package
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Get-ChildItem installers\target\dist
