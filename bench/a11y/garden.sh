#!/bin/sh
# The a11y task in a container like the one Garden gives a Cloud Foundry task
# (tests/support/garden.rs: Debian's runc, user namespace, guardian's
# capabilities and seccomp list), on the a11y image the image tests build:
# a site of GARDEN_LIGHT (default 450) light pages, of which the crawler
# samples 400, and a site of 40 light pages with three 3,000-row tables, each
# at 512 MB and uncapped. Prints one Markdown row per run: site, limit, wall
# time of the container, pages scanned and failed, exit code, the memory
# cgroup's figures. Needs root, runc, buildah, mmdebstrap and s3s-fs
# (.ci/run installs them); about 20 minutes on 2 shared cores.
set -eu
cd "$(dirname "$0")/../.."
cargo test --all-features --test tests garden::garden_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep '^|'
