#!/usr/bin/env bash
# liednet explain's page in a real browser: headless Chromium loads index.html
# and every picture on it must decode completely. A copy of the page with a
# small inline script (the page itself has none) draws each image onto a canvas
# once the page has loaded and writes "<decoded>/<images>" into the DOM, which
# --dump-dom prints. Exit 77 (skipped) where Chromium is not installed.
# usage: explain_browser_test.sh LIEDNET_BINARY ORACLE_DIR
set -uo pipefail
BIN=$1
ORACLE=$2
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "skipped: Chromium is not installed (scripts/setup.sh installs Debian's chromium)"
  exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SAMPLES="$(cd "$(dirname "$0")/../.." && pwd)/data/samples"
mkdir -p "$WORK/photos"
cp "$SAMPLES/coffee.png" "$SAMPLES/rocket.png" "$WORK/photos/"
"$BIN" convert "$ORACLE/liednet_dim8.pth" "$WORK/w.safetensors" > /dev/null || exit 1
"$BIN" explain --weights "$WORK/w.safetensors" --input "$WORK/photos" --output "$WORK/report" --size 32 40 \
  --without-ss2d > "$WORK/log" || { cat "$WORK/log"; exit 1; }

# Counts the images that decoded completely: drawn onto a canvas, their last pixel is opaque
# (the PNGs are RGB; a truncated or missing one is broken or stays transparent at the bottom).
CHECK='<script>
addEventListener("load", () => {
  const imgs = [...document.images];
  let ok = 0;
  for (const img of imgs) {
    try {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      if (c.width > 0 && ctx.getImageData(c.width - 1, c.height - 1, 1, 1).data[3] === 255) ok++;
    } catch (e) {}
  }
  document.body.dataset.decoded = ok + "/" + imgs.length;
});
</script>'
page() {  # the decoded count Chromium reports for the report folder's page
  ${LIEDNET_PYTHON:-/usr/bin/python3} -c 'import sys; s = open(sys.argv[1]).read(); open(sys.argv[2], "w").write(s.replace("</body>", sys.argv[3] + "</body>"))' \
    "$WORK/report/index.html" "$WORK/report/check.html" "$CHECK"
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
    --user-data-dir="$WORK/profile" --dump-dom "file://$WORK/report/check.html" 2> "$WORK/chromium.err" \
    | grep -o 'data-decoded="[0-9]*/[0-9]*"' | sed 's/data-decoded="\(.*\)"/\1/'
}

failures=0
n=$(grep -o '<img ' "$WORK/report/index.html" | wc -l)
written=$(ls "$WORK/report"/*.png | wc -l)
got=$(page)
if [ "$n" -gt 0 ] && [ "$n" -eq "$written" ] && [ "$got" = "$n/$n" ]; then
  echo "ok   Chromium decoded all $got pictures of index.html"
else
  echo "FAIL Chromium decoded '$got' of $n pictures ($written PNG files written)"; tail -3 "$WORK/chromium.err"; failures=$((failures + 1))
fi
# The check itself can fail: a truncated picture is counted as not decoded.
head -c 300 "$WORK/report/erf_output.png" > "$WORK/cut.png" && mv "$WORK/cut.png" "$WORK/report/erf_output.png"
got=$(page)
if [ "$got" = "$((n - 1))/$n" ]; then
  echo "ok   a truncated picture is caught ($got)"
else
  echo "FAIL a truncated picture was not caught: '$got' of $n"; failures=$((failures + 1))
fi
[ $failures -eq 0 ]
