#!/usr/bin/env bash
# The a11y bench, one command: bench/a11y/run.sh
#
# (a) crawl: a generated site of $PAGES pages (default 5,000) on loopback,
#     crawled by our crawler and by Scrapy with the original task's settings
#     (in its own virtualenv, bench/.venv-a11y), one after the other in this
#     run: pages per second and peak RSS (GNU time's maximum resident size).
# (b) scan: the fixture site (../shared/fixtures/axe/site) on loopback, every
#     page our crawler finds, scanned by our one-browser WebDriver scan and by
#     the @axe-core/cli from npm, one process per URL as the original ran it,
#     both with Debian's chromium and chromedriver: seconds per page.
#
# Installs what it lacks (Scrapy from PyPI, @axe-core/cli and axe-core from
# npm) on first use. Writes the table to stdout and bench/out/a11y.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
PAGES=${PAGES:-5000}
AXE_VERSION=4.13.0
out=bench/out/a11y
rm -rf "$out"
mkdir -p "$out"

# --- tools ---------------------------------------------------------------
if [ ! -x bench/.venv-a11y/bin/scrapy ]; then
  python3 -m venv bench/.venv-a11y
  echo '*' > bench/.venv-a11y/.gitignore
  bench/.venv-a11y/bin/pip install -q scrapy
fi
axe_cli=bench/a11y/.node/node_modules/.bin/axe
if [ ! -x "$axe_cli" ]; then
  # The CLI's chromedriver package would download a driver; we use Debian's.
  CHROMEDRIVER_SKIP_DOWNLOAD=true npm install --silent --no-audit --no-fund --prefix bench/a11y/.node "@axe-core/cli@$AXE_VERSION"
fi
axe_js=target/npm-axe/node_modules/axe-core/axe.min.js
[ -f "$axe_js" ] || npm install --silent --no-audit --no-fund --prefix target/npm-axe "axe-core@$AXE_VERSION"
cargo build -q --release --features a11y --example a11y-bench
bench=target/release/examples/a11y-bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do python3 -c "import urllib.request as u; u.urlopen('$1')" 2>/dev/null && return; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# --- (a) crawl -----------------------------------------------------------
port=$(free_port)
"$bench" serve "$port" "$PAGES" & pids+=($!)
site="http://127.0.0.1:$port/"
wait_up "$site"
/usr/bin/time -f '%M' -o "$out/ours-crawl.rss" "$bench" crawl "$site" > "$out/ours-crawl.txt"
/usr/bin/time -f '%M' -o "$out/scrapy-crawl.rss" bench/.venv-a11y/bin/python bench/a11y/scrapy_crawl.py "$site" > "$out/scrapy-crawl.txt"

# --- (b) scan ------------------------------------------------------------
fixture_site="$root/../shared/fixtures/axe/site"
scan_port=8723
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 8723))' 2>/dev/null || scan_port=$(free_port)
"$bench" serve-dir "$scan_port" "$fixture_site" & pids+=($!)
wait_up "http://127.0.0.1:$scan_port/"
"$bench" crawl "http://127.0.0.1:$scan_port" "$out/scan-urls.txt" > /dev/null
mapfile -t urls < "$out/scan-urls.txt"
/usr/bin/time -f '%e %M' -o "$out/ours-scan.time" "$bench" scan "$axe_js" "$out/ours-scan" "${urls[@]}" > "$out/ours-scan.txt"
ua="cloudgovpagescrawler/1.0 (bench)"
start=$(date +%s.%N)
failed=0
for url in "${urls[@]}"; do
  "$axe_cli" "$url" \
    --chrome-options="no-sandbox,disable-setuid-sandbox,disable-dev-shm-usage,user-agent=$ua,disable-gpu,disable-background-networking,disable-component-update,disable-sync,no-first-run" \
    --tags wcag2a,wcag2aa,wcag21a,wcag21aa,wcag22aa --dir "$out/cli-scan" \
    --chromedriver-path /usr/bin/chromedriver --chrome-path /usr/bin/chromium > /dev/null 2>&1 || failed=$((failed + 1))
done
end=$(date +%s.%N)
cli_files=$(ls "$out/cli-scan" | wc -l)

# --- the table -----------------------------------------------------------
read -r ours_pages ours_secs < "$out/ours-crawl.txt"
read -r scrapy_pages scrapy_secs < "$out/scrapy-crawl.txt"
ours_rss=$(tail -n 1 "$out/ours-crawl.rss")
scrapy_rss=$(tail -n 1 "$out/scrapy-crawl.rss")
read -r scan_pages scan_secs < "$out/ours-scan.txt"
python3 - "$ours_pages" "$ours_secs" "$ours_rss" "$scrapy_pages" "$scrapy_secs" "$scrapy_rss" \
  "$scan_pages" "$scan_secs" "${#urls[@]}" "$start" "$end" "$cli_files" "$failed" <<'PY' | tee bench/out/a11y.md
import sys
(op, osec, orss, sp, ssec, srss, np, nsec, n, start, end, cli_files, failed) = sys.argv[1:]
op, sp, np, n, cli_files, failed = map(int, (op, sp, np, n, cli_files, failed))
osec, ssec, nsec = float(osec), float(ssec), float(nsec)
orss, srss = int(orss) / 1024, int(srss) / 1024
csec = float(end) - float(start)
print("| a11y bench | ours | original | ours / original | goal |")
print("|---|---|---|---|---|")
print(f"| crawl: pages found | {op} | {sp} | | same |")
print(f"| crawl: pages/s | {op / osec:.0f} | {sp / ssec:.0f} | {(op / osec) / (sp / ssec):.2f}x | >= 1x |")
print(f"| crawl: peak RSS (MiB) | {orss:.1f} | {srss:.1f} | {orss / srss:.3f} | <= 0.25 |")
print(f"| scan: pages scanned | {np} of {n} | {cli_files} of {n} ({failed} failed) | | all |")
print(f"| scan: s/page | {nsec / n:.2f} | {csec / n:.2f} | {(nsec / n) / (csec / n):.2f} | <= 0.5 |")
PY
