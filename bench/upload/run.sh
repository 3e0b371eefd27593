#!/usr/bin/env bash
# The upload benchmark: build-task's S3 store against boto3's upload_file and
# the `curl -T` ceiling, all against one local s3s-fs, in one run.
#
#   bench/upload/run.sh
#
# Cases: (a) one 1 GiB file, (b) 2,000 files of 20 KiB, (c) 400 files of
# 200 KiB plus one 50 MiB file, and (d) one 1 MiB file, the baseline for peak
# RSS. Each tool uploads each case once under
# /usr/bin/time; the table shows wall time, CPU time (user + sys) and peak RSS,
# and the ratios to boto3 (and to curl for the 1 GiB file). "bt 1 PUT" is
# build-task with the 1 GiB file sent in one PutObject rather than in parts.
#
# Needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary
# --locked), python3 with venv, curl, /usr/bin/time, and about 5 GiB free
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

# measure <case> <tool> <command...>: one timed run, then an empty bucket.
measure() {
    local case=$1 tool=$2
    shift 2
    echo "  $case: $tool" >&2
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$work/out" 2>&1; then
        echo "run.sh: $tool failed on case $case:" >&2
        cat "$work/out" >&2
        exit 1
    fi
    read -r wall user sys rss <"$work/time"
    printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$rss" >>"$results"
    rm -rf "${work:?}/s3/$bucket" && mkdir -p "$work/s3/$bucket"
    sync
}

task=1
for case in ${BENCH_CASES:-a b c d}; do
    measure "$case" build-task "$bt" "$endpoint" "$bucket" "$task" "$work/data/$case"
    task=$((task + 1))
    if [ "$case" = a ]; then
        # For comparison: the same file in one PutObject instead of parts.
        measure "$case" "bt 1 PUT" env BUILD_TASK_MULTIPART_THRESHOLD=2G "$bt" "$endpoint" "$bucket" "$task" "$work/data/$case"
        task=$((task + 1))
    fi
    measure "$case" boto3 "$py" bench/upload/boto3_upload.py upload "$endpoint" "$bucket" "_tasks/artifacts/$task/" "$work/data/$case"
    task=$((task + 1))
done
if [[ " ${BENCH_CASES:-a} " == *" a "* ]]; then
    url=$("$py" bench/upload/boto3_upload.py presign "$endpoint" "$bucket" "_tasks/artifacts/curl/big.bin")
    measure a "curl -T" curl --silent --show-error --fail -T "$work/data/a/big.bin" "$url"
fi

echo
echo "build-task $(git rev-parse --short HEAD), boto3 $boto3_version (default TransferConfig), s3s-fs $(s3s-fs --version 2>/dev/null | awk '{ print $2 }'), $(nproc) cores"
awk -F'\t' '
    { wall[$1, $2] = $3; cpu[$1, $2] = $4; rss[$1, $2] = $5; if (!seen[$1, $2]++) order[n++] = $1 SUBSEP $2 }
    END {
        names["a"] = "(a) 1 x 1 GiB"; names["b"] = "(b) 2000 x 20 KiB"; names["c"] = "(c) 400 x 200 KiB + 50 MiB"; names["d"] = "(d) 1 x 1 MiB"
        printf "%-28s %-11s %9s %9s %10s %11s %10s\n", "case", "tool", "wall s", "cpu s", "RSS MiB", "wall/boto3", "wall/curl"
        for (i = 0; i < n; i++) {
            split(order[i], k, SUBSEP); c = k[1]; t = k[2]
            rb = ((c, "boto3") in wall) ? sprintf("%.2f", wall[c, t] / wall[c, "boto3"]) : "-"
            rc = ((c, "curl -T") in wall) ? sprintf("%.2f", wall[c, t] / wall[c, "curl -T"]) : "-"
            printf "%-28s %-11s %9.2f %9.2f %10.1f %11s %10s\n", names[c], t, wall[c, t], cpu[c, t], rss[c, t] / 1024, rb, rc
        }
    }' "$results"
