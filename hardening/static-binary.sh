#!/bin/sh
# Builds the static musl binary of one task, reproducibly, with the crate
# list embedded for scanners (cargo-auditable). The Dockerfile's builder stage
# and the tests both call this script, so the image and CI build the same bytes.
#
#   hardening/static-binary.sh TASK [OUT]
#
# TASK is a cargo feature (a folder under tasks/); OUT (default
# target/x86_64-unknown-linux-musl/release/build-task) receives the binary.
# CARGO_TARGET_DIR is honoured, so two clean builds can be compared.
#
# The toolchain is a nightly pinned by date (the Dockerfile's builder and
# .ci/run install the same one), because only a nightly builds std itself
# (-Zbuild-std): with the release profile (opt-level z, LTO with our code),
# without its backtrace symbolizer (panics abort, and the binary carries no
# unwind tables to walk), with its size-optimised algorithms
# (optimize_for_size). BUILD_TASK_TOOLCHAIN=stable builds the same program
# on the prebuilt std, 290 to 340 KB larger (docs/DESIGN.md).
set -eu

NIGHTLY=nightly-2026-05-20
toolchain=${BUILD_TASK_TOOLCHAIN:-$NIGHTLY}
if ! rustc +"$toolchain" --version >/dev/null 2>&1; then
  echo "static-binary.sh: the toolchain $toolchain is missing: rustup toolchain install $toolchain" \
    "--profile minimal --component rust-src --target x86_64-unknown-linux-musl" \
    "(or BUILD_TASK_TOOLCHAIN=stable for a larger binary)" >&2
  exit 1
fi

task=${1:?usage: hardening/static-binary.sh TASK [OUT]}
cd "$(dirname "$0")/.."
src=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$src/target}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
out=${2:-$target_dir/x86_64-unknown-linux-musl/release/build-task}

# Same source, same bytes: every absolute path that could reach the binary
# (the checkout, the target dir, cargo's registry, the toolchain's std
# source) is rewritten to a fixed one, so where the build ran does not
# show. rustc embeds no timestamps; SOURCE_DATE_EPOCH is set for any build
# script that would.
# .cargo/config.toml's flags (static, RELR relocations) are repeated because
# RUSTFLAGS replaces them.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs \
--remap-path-prefix=$src=/build-task \
--remap-path-prefix=$target_dir=/build-task/target \
--remap-path-prefix=$cargo_home=/cargo \
--remap-path-prefix=$(rustc +"$toolchain" --print sysroot)=/rust"
std_flags=
case $toolchain in
  nightly*) std_flags="-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size" ;;
esac

# cargo-auditable wraps rustc to add a `.dep-v0` section (the crate list,
# zlib-compressed JSON) that ECR scanning, grype and trivy read.
build="cargo +$toolchain build"
if cargo auditable --version >/dev/null 2>&1; then
  build="cargo +$toolchain auditable build"
else
  echo "static-binary.sh: cargo-auditable is missing (cargo install cargo-auditable --locked)" >&2
  exit 1
fi

# shellcheck disable=SC2086 # std_flags is two words or none
$build --release --locked --target x86_64-unknown-linux-musl $std_flags \
  --no-default-features --features "$task"

built=$target_dir/x86_64-unknown-linux-musl/release/build-task
if [ "$out" != "$built" ]; then
  mkdir -p "$(dirname "$out")"
  cp "$built" "$out"
fi
