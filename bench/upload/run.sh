#!/usr/bin/env bash
# The upload benchmark: build-task's S3 store against boto3's upload_file and
# the `curl -T` ceiling, all against one local s3s-fs, in one run.
#
#   bench/upload/run.sh
#
# Cases: (a) one 1 GiB file, (b) 2,000 files of 20 KiB, (c) 400 files of
# 200 KiB plus one 50 MiB file, and (d) one 1 MiB file, the baseline for peak
# RSS. Each tool uploads each case BENCH_RUNS times (default 3) under
# /usr/bin/time; the table shows the medians of wall time, CPU time (user +
# sys), peak RSS and the CPU s3s-fs spent meanwhile, and the ratios to boto3
# (and to curl for the 1 GiB file). "bt 1 PUT" is build-task with the 1 GiB
# file sent in one PutObject rather than in parts; "curl -T +sum" is curl
# sending the SHA-256 checksum header build-task sends, hashed first.
#
# Needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary
# --locked), python3 with venv, curl, openssl, /usr/bin/time, and about 5 GiB free
# under $BENCH_TMP (default /tmp). BENCH_CASES="a b c d" picks cases. boto3 goes into bench/.venv from PyPI.
# build-task's side is examples/upload.rs, built like the release binary
# (musl, opt-level z, LTO), with the default settings unless the
# BUILD_TASK_S3_* / BUILD_TASK_MULTIPART_* variables are set.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
tmp=${BENCH_TMP:-/tmp}
free_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ "$free_kib" -lt $((5 * 1024 * 1024)) ]; then
    echo "run.sh: needs 5 GiB free under $tmp" >&2
    exit 1
fi

echo "building examples/upload (release, musl)..." >&2
cargo build --quiet --release --target x86_64-unknown-linux-musl --example upload
bt=$repo/target/x86_64-unknown-linux-musl/release/examples/upload

venv=$repo/bench/.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then
    echo "installing boto3 into bench/.venv..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet boto3
fi
py=$venv/bin/python
boto3_version=$("$py" -c 'import boto3; print(boto3.__version__)')

work=$(mktemp -d "$tmp/bt-bench.XXXXXX")
s3s_pid=
cleanup() {
    if [ -n "$s3s_pid" ]; then kill "$s3s_pid" 2>/dev/null || true; wait "$s3s_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "writing the cases..." >&2
"$py" bench/upload/make_data.py "$work/data"
sync

export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1
bucket=bench
mkdir -p "$work/s3/$bucket"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
s3s-fs --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
    "$work/s3" >/dev/null 2>&1 &
s3s_pid=$!
endpoint=http://127.0.0.1:$port
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
done

results=$work/results.tsv
: >"$results"
runs=${BENCH_RUNS:-3}
ticks=$(getconf CLK_TCK)

# The CPU seconds s3s-fs has used so far (user + system).
server_cpu() {
    awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$s3s_pid/stat"
}

# measure <case> <tool> <command...>: one timed run, then an empty bucket.
# It records wall, client CPU, peak RSS and the CPU s3s-fs spent meanwhile.
measure() {
    local case=$1 tool=$2 before after
    shift 2
    echo "  $case: $tool ($run/$runs)" >&2
    before=$(server_cpu)
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$work/out" 2>&1; then
        echo "run.sh: $tool failed on case $case:" >&2
        cat "$work/out" >&2
        exit 1
    fi
    after=$(server_cpu)
    read -r wall user sys rss <"$work/time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$rss" \
        "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" >>"$results"
    rm -rf "${work:?}/s3/$bucket" && mkdir -p "$work/s3/$bucket"
    sync
}

# The tools take turns within each run, so that a slower stretch of a
# shared machine does not fall on one tool alone.
task=1
for case in ${BENCH_CASES:-a b c d}; do
    for run in $(seq "$runs"); do
        measure "$case" build-task "$bt" "$endpoint" "$bucket" "$task" "$work/data/$case"
        task=$((task + 1))
        if [ "$case" = a ]; then
            # For comparison: the same file in one PutObject instead of parts.
            measure "$case" "bt 1 PUT" env BUILD_TASK_MULTIPART_THRESHOLD=2G "$bt" "$endpoint" "$bucket" "$task" "$work/data/$case"
            task=$((task + 1))
        fi
        measure "$case" boto3 "$py" bench/upload/boto3_upload.py upload "$endpoint" "$bucket" "_tasks/artifacts/$task/" "$work/data/$case"
        task=$((task + 1))
        if [ "$case" = a ]; then
            big=$work/data/a/big.bin
            url=$("$py" bench/upload/boto3_upload.py presign "$endpoint" "$bucket" "_tasks/artifacts/curl/big.bin")
            measure a "curl -T" curl --silent --show-error --fail -T "$big" "$url"
            # The same PUT with the checksum build-task sends: hashed first
            # (OpenSSL), signed into the URL, and verified by s3s-fs as it writes.
            measure a "curl -T +sum" sh -c '
                sum=$(openssl dgst -sha256 -binary "$3" | base64)
                url=$("$1" presign "$2" bench _tasks/artifacts/curl/big.bin "$sum")
                curl --silent --show-error --fail -T "$3" -H "x-amz-checksum-sha256: $sum" "$url"' \
                sh "$bt" "$endpoint" "$big"
        fi
    done
done

echo
echo "build-task $(git rev-parse --short HEAD), boto3 $boto3_version (default TransferConfig), s3s-fs $(s3s-fs --version 2>/dev/null | awk '{ print $2 }'), $(nproc) cores, median of $runs runs"
awk -F'\t' '
    function median(list,    v, m, i, j, t) {
        m = split(list, v, " ")
        for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    { k = $1 SUBSEP $2; wall[k] = wall[k] " " $3; cpu[k] = cpu[k] " " $4; rss[k] = rss[k] " " $5; srv[k] = srv[k] " " $6
      if (!seen[k]++) order[n++] = k }
    END {
        names["a"] = "(a) 1 x 1 GiB"; names["b"] = "(b) 2000 x 20 KiB"; names["c"] = "(c) 400 x 200 KiB + 50 MiB"; names["d"] = "(d) 1 x 1 MiB"
        for (i = 0; i < n; i++) { k = order[i]; w[k] = median(wall[k]) }
        printf "%-28s %-12s %8s %8s %8s %12s %11s %10s\n", "case", "tool", "wall s", "cpu s", "RSS MiB", "s3s-fs cpu s", "wall/boto3", "wall/curl"
        for (i = 0; i < n; i++) {
            k = order[i]; split(k, p, SUBSEP); c = p[1]; t = p[2]
            rb = ((c, "boto3") in w) ? sprintf("%.2f", w[k] / w[c, "boto3"]) : "-"
            rc = ((c, "curl -T") in w) ? sprintf("%.2f", w[k] / w[c, "curl -T"]) : "-"
            printf "%-28s %-12s %8.2f %8.2f %8.1f %12.2f %11s %10s\n", names[c], t, w[k], median(cpu[k]), median(rss[k]) / 1024, median(srv[k]), rb, rc
        }
    }' "$results"
