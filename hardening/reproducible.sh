#!/bin/sh
# Proves the static binary is reproducible: two clean builds, from two copies
# of the source at different paths, into two fresh target directories, must
# give the same sha256. Prints both digests; exits 1 when they differ.
#
#   hardening/reproducible.sh [TASK]      (default: example)
set -eu

task=${1:-example}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/build-task-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The sources cargo sees, without target/ or anything built, copied twice
# before either build starts.
for n in a b; do
  mkdir -p "$work/$n/src-$n"
  (cd "$root" && tar -cf - --exclude=./target --exclude=./.git --exclude=./build-task-output --exclude=./bench/.venv --exclude=./bench/out .) \
    | tar -xf - -C "$work/$n/src-$n"
done
for n in a b; do
  CARGO_TARGET_DIR="$work/$n/target" "$work/$n/src-$n/hardening/static-binary.sh" "$task" "$work/$n/build-task" >"$work/$n.log" 2>&1 \
    || { cat "$work/$n.log" >&2; exit 1; }
done

a=$(sha256sum < "$work/a/build-task" | cut -d' ' -f1)
b=$(sha256sum < "$work/b/build-task" | cut -d' ' -f1)
echo "build 1: $a ($(wc -c < "$work/a/build-task") bytes)"
echo "build 2: $b ($(wc -c < "$work/b/build-task") bytes)"
if [ "$a" = "$b" ]; then
  echo "reproducible: the two clean builds of '$task' are identical"
else
  echo "NOT reproducible: the two clean builds of '$task' differ" >&2
  exit 1
fi
