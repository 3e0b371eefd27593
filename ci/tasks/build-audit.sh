#!/bin/sh
# Builds the hardening audit and the CVE gate (both in hardening/audit) into
# audit-bin/ and the smoke tool, statically linked (ci/smoke/build.sh), into
# smoke-bin/.
set -eu
audit_out="$PWD/audit-bin"
smoke_out="$PWD/smoke-bin"
cd src
cargo build --release --locked -p build-task-audit
cp target/release/build-task-audit target/release/build-task-cve-gate "$audit_out/"
ci/smoke/build.sh "$smoke_out"
