#!/usr/bin/env bash
# Documented check of `corral report`: build a journal from a replayed storm and a simulated
# relapse-then-retire run, render the HTML report, open it in headless Chromium (Debian package
# `chromium-headless-shell`, or `chromium`) and save a screenshot. ReportRenderingTests checks the
# same page in the browser on every test run; this is the picture for docs/.
# Usage: scripts/report-screenshot.sh [OUTPUT.png]   (default docs/report-screenshot.png)
#        CORRAL=.build/debug/corral scripts/report-screenshot.sh   (skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/report-screenshot.png}"
browser=$(command -v chromium-headless-shell || command -v chromium || true)
[ -n "$browser" ] || { echo "needs Chromium: apt-get install -y chromium-headless-shell" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/storm.log" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        us = 100_000_000 + i * 100
        f.write(f"[{us//1000000}.{us%1000000:06d}] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x{0x1000*i:x} [fault reason 0x05] PTE Write access is not set\n")
    for i in range(40):
        us = 101_000_000 + i * 20_000
        f.write(f"[{us//1000000}.{us%1000000:06d}] pcieport 0000:00:1c.0: AER: Corrected error received: 0000:04:00.0\n")
PY
bin="${CORRAL:-}"
if [ -z "$bin" ]; then
    swift build -c release --product corral >/dev/null
    bin=".build/release/corral"
fi
"$bin" simulate relapse-then-retire --journal "$work/journal.sqlite" >/dev/null
"$bin" replay "$work/storm.log" --journal "$work/journal.sqlite" >/dev/null
"$bin" report --journal "$work/journal.sqlite" --html "$work/report.html"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1900 \
    --screenshot="$out" "file://$work/report.html" 2>/dev/null
echo "screenshot: $out"
