#!/bin/sh
# Builds the hardening audit and copies the binary to audit-bin/.
set -eu
out="$PWD/audit-bin"
cd src
cargo build --release --locked -p build-task-audit
cp target/release/build-task-audit "$out/"
