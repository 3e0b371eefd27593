#!/bin/sh
# Runs the project's CI script with cargo-installed tools kept in a task cache.
set -eu
export CARGO_INSTALL_ROOT="$PWD/cargo-install"
export PATH="$CARGO_INSTALL_ROOT/bin:$PATH"
exec src/.ci/run
