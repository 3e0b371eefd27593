#!/bin/sh
# Runs the hardening audit on image/ (rootfs/ and metadata.json, unpacked by
# oci-build-task) of the task named by BUILD_TASK; exit 1 on any finding.
set -eu
: "${BUILD_TASK:?BUILD_TASK names the task whose image is audited}"
echo "auditing the $BUILD_TASK image"
audit-bin/build-task-audit --policy src/hardening/policy.toml image
