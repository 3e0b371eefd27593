#!/bin/sh
# Builds the hardening audit and copies the binary to audit-bin/.
set -eu
out="$PWD/audit-bin"
cd src
cargo build --release --locked -p hardening-audit
cp target/release/hardening-audit "$out/"
