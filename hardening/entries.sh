#!/bin/sh
# Lays out the names through which pages-core's stored commands reach
# build-task in a non-scratch image (src/entry.rs has the table). Cloud
# Foundry runs them as `/bin/sh -c '<command>'` with the image's own shell,
# as root, in /:
#
#   python build-task/main.py …   /build-task/main.py, a Python script that
#                                 execs build-task with its arguments; in an
#                                 image without `python` on PATH,
#                                 /usr/local/bin/python -> build-task, which
#                                 runs only that script's command
#   zap/run_pages_task.py …       made by tasks/owasp-zap/build.sh
#   exec build-task …             /usr/local/bin/build-task itself
#
#   entries.sh        run as root at image build time, after build.sh
set -eu

bin=/usr/local/bin/build-task
say() { printf 'entries: %s\n' "$*"; }

[ -x "$bin" ] || { say "$bin is missing: the Dockerfile copies it first" >&2; exit 1; }

mkdir -p /build-task
cat > /build-task/main.py <<'PY'
# pages-core's command `python build-task/main.py <flags> -p '<params>'`, from
# the Python runtime this image no longer has, now starts build-task.
import os
import sys

os.execv("/usr/local/bin/build-task", ["build-task"] + sys.argv[1:])
PY
chmod 0644 /build-task/main.py
say "/build-task/main.py execs $bin"

# The PATH Cloud Foundry will use is the image's ENV PATH, which the build
# runs with too.
if command -v python >/dev/null 2>&1; then
  say "python is $(command -v python): it runs /build-task/main.py"
else
  ln -s "$bin" /usr/local/bin/python
  say "no python in the image: /usr/local/bin/python -> $bin"
fi
