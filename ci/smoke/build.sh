#!/bin/sh
# Builds build-task-smoke as a static binary and copies it to OUT_DIR:
#
#   ci/smoke/build.sh OUT_DIR
#
# The pipeline's run step executes it inside every task's image, and the
# example image is FROM scratch: no libc, no loader. So it is linked
# statically, with glibc (+crt-static on the gnu target) rather than musl:
# the rust image already has the gnu target and glibc's libc.a, where musl
# would need `rustup target add` on every run. Static glibc is unsafe only
# for NSS (host names, users), which this program never uses: it listens on
# 127.0.0.1 by address. CARGO_TARGET_DIR and CARGO (the cargo to run) are
# honoured.
set -eu
out=${1:?usage: ci/smoke/build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
# With --target, RUSTFLAGS reach only the binary, not build scripts.
RUSTFLAGS="-C target-feature=+crt-static" \
  "${CARGO:-cargo}" build --release --locked -p build-task-smoke --target x86_64-unknown-linux-gnu
cp "$target_dir/x86_64-unknown-linux-gnu/release/build-task-smoke" "$out/"
