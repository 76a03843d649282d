#!/usr/bin/env bash
# Screenshot a built chapter page with headless Chromium (for docs/screenshot.png).
# Usage: tools/screenshot.sh [_build/html/chapters/01_motivation.html] [docs/screenshot.png]
set -euo pipefail
page=${1:-_build/html/chapters/01_motivation.html}
out=${2:-docs/screenshot.png}
mkdir -p "$(dirname "$out")"
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --virtual-time-budget=15000 --hide-scrollbars \
  --window-size=1280,1600 --screenshot="$out" "file://$(realpath "$page")"
rm -rf "$profile"
echo "wrote $out"
