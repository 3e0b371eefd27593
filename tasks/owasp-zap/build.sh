#!/bin/sh
# Prepares ZAP's base image for the owasp-zap task: only the work directory
# zap-baseline.py writes its report to. No Node, no venv, no pip: the report
# step is in the build-task binary.
set -eu

mkdir -p /zap/wrk
# Cloud Foundry runs tasks as root, but the image's own user is zap; either
# may run the scan.
if id zap >/dev/null 2>&1; then
    chown zap /zap/wrk
fi
chmod 0775 /zap/wrk
