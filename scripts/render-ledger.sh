#!/usr/bin/env bash
# Renders exported ledgers the way a community worker sees them: LibreOffice Calc opens the XLSX
# files gridmap writes and prints them to PDF, and the first page becomes a PNG.
#   scripts/render-ledger.sh [REGION]      (default 530103002001, 桃源社区 of the demo)
# Needs the demo loaded (make demo, or gridmap demo); installs LibreOffice if missing.
# Writes test-artifacts/ledger-<layer>.{xlsx,pdf,png}.
set -euo pipefail
cd "$(dirname "$0")/.."
region="${1:-530103002001}"
scripts/install-system-deps.sh --office
out=test-artifacts
mkdir -p "$out"
for layer in grid-ledger ledger members; do
    .venv/bin/gridmap export "$layer" "$out/ledger-$layer.xlsx" --region "$region"
    soffice --headless --convert-to pdf --outdir "$out" "$out/ledger-$layer.xlsx" >/dev/null
    pdftoppm -png -r 110 -f 1 -l 1 -singlefile "$out/ledger-$layer.pdf" "$out/ledger-$layer"
    echo "rendered $out/ledger-$layer.png"
done
