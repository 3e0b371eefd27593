#!/bin/sh
# Runs the hardening audit on image/rootfs of the task named by BUILD_TASK.
set -eu
: "${BUILD_TASK:?BUILD_TASK names the task whose image is audited}"
echo "auditing the $BUILD_TASK image"
audit-bin/hardening-audit --rootfs image/rootfs --metadata image/metadata.json --policy src/hardening/policy.toml
