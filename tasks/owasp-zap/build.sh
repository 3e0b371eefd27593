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

# pages-core's ZAP migration stores `zap/run_pages_task.py -t … -p '…'`, run
# from /: that name is build-task too, which reads it as the owasp-zap task
# (src/entry.rs).
ln -sf /usr/local/bin/build-task /zap/run_pages_task.py
echo "owasp-zap build: /zap/run_pages_task.py -> /usr/local/bin/build-task"
