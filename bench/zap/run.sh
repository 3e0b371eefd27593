#!/bin/sh
# bench/zap: time and peak RSS of the owasp-zap report step beside its floor
# (miniserde parse + write back unchanged), for the largest shared fixture and
# a generated 50 MB report. Run from the repository root:
#     sh bench/zap/run.sh
set -eu
cd "$(dirname "$0")/../.."
out=bench/out/zap
mkdir -p "$out"
cargo build --quiet --release --example zap-bench --features owasp-zap
bin=target/release/examples/zap-bench
fixtures=../shared/fixtures/zap
config="$fixtures/configs/pages-default.json"
[ -f "$config" ] || config=tests/fixtures/zap/config.json

inputs=""
largest=$(ls -S "$fixtures"/inputs/*.json 2>/dev/null | head -n 1 || true)
[ -n "$largest" ] && inputs="$largest"
big="$out/generated-50mb.json"
if [ ! -f "$big" ]; then
    python3 bench/zap/gen.py "${largest:-tests/fixtures/zap/report.json}" "$big" 10000 50
fi
inputs="$inputs $big"

printf '%-28s %12s %10s %10s %10s %14s %10s\n' input bytes floor_s report_s ratio report_rss_MB rss/size
for input in $inputs; do
    # Best of 3 for time; the highest peak RSS of the same runs.
    best() {
        for _ in 1 2 3; do "$bin" "$@"; done |
            awk '{ if (min == "" || $3 < min) min = $3; if ($4 > rss) rss = $4 } END { print min, rss }'
    }
    set -- $(best floor "$input" "$out/floor.json"); floor_s=$1; floor_rss=$2
    set -- $(best report "$input" "$config" "$out/index.json"); report_s=$1; report_rss=$2
    bytes=$(stat -c %s "$input")
    printf '%-28s %12s %10s %10s %10.2f %14.1f %10.2f   (floor rss %.1f MB)\n' "$(basename "$input")" "$bytes" \
        "$floor_s" "$report_s" "$(echo "$report_s / $floor_s" | bc -l)" \
        "$(echo "$report_rss / 1000000" | bc -l)" "$(echo "$report_rss / $bytes" | bc -l)" "$(echo "$floor_rss / 1000000" | bc -l)"
done
