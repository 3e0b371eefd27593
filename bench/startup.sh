#!/usr/bin/env bash
# Start-up benchmark (see bench/README.md): builds the static release binary
# with only `example`, prints its size, then times exec -> 'processing'.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --locked --target x86_64-unknown-linux-musl
bin=target/x86_64-unknown-linux-musl/release/build-task
echo "binary: $(stat -c %s "$bin") bytes (budget 2,500,000), $(file -b "$bin" | cut -d, -f1-2)"
cargo run --quiet --release --example startup -- "$bin" "${1:-300}"
