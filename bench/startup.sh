#!/usr/bin/env bash
# Start-up benchmark (see bench/README.md): builds every task's shipped
# binary as the images do (hardening/static-binary.sh), prints each size
# against the budget, then times the example binary's exec -> 'processing'.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=2000000
out=target/bench-binaries
mkdir -p "$out"
for task in example owasp-zap a11y; do
  hardening/static-binary.sh "$task" "$out/$task/build-task" 2>"$out/$task.log" \
    || { cat "$out/$task.log" >&2; exit 1; }
  size=$(stat -c %s "$out/$task/build-task")
  verdict=within
  [ "$size" -le "$budget" ] || verdict=OVER
  printf '%-10s %9d bytes  %s the budget of %d (%d to spare)\n' \
    "$task" "$size" "$verdict" "$budget" $((budget - size))
done
cargo run --quiet --release --example startup -- "$out/example/build-task" "${1:-300}"
