#!/bin/sh
# The hardening step, run as root inside a non-scratch image at build time,
# after the task's build.sh, in the same RUN (so what it removes never lands
# in a layer). A scratch image needs none of it: it holds only what
# scratch-rootfs.sh lays out.
#
#   harden.sh [TOOL...]
#
# TOOLs are the fetch-only tools build.sh used (curl, wget, …): build.sh
# names them by appending to "$FETCH_TOOLS", one a line. Each is purged with
# its package when nothing else depends on it, else its command is deleted.
#
# Then: package-manager caches and lists, docs and man pages go; setuid and
# setgid bits are stripped (CIS Docker 4.8); world-writable permission is
# removed everywhere but on sticky directories. hardening/audit checks the
# result against hardening/policy.toml.
set -eu

say() { printf 'harden: %s\n' "$*"; }

# Only the image's own filesystem: not /proc, /sys, /dev or /run, which the
# builder mounts while RUN runs.
walk() {
  find / \( -path /proc -o -path /sys -o -path /dev -o -path /run \) -prune -o "$@"
}

# --- fetch-only tools ------------------------------------------------------
# The tool's file on PATH. Not `command -v`: a busybox shell answers with the
# bare applet name.
on_path() {
  old_ifs=$IFS; IFS=:
  for d in $PATH; do
    if [ -f "$d/$1" ] || [ -L "$d/$1" ]; then IFS=$old_ifs; echo "$d/$1"; return 0; fi
  done
  IFS=$old_ifs
  return 1
}

for tool in "$@"; do
  path=$(on_path "$tool") || { say "$tool: not installed"; continue; }
  pkg=""
  if [ -f /var/lib/dpkg/status ]; then
    real=$(readlink -f "$path" || echo "$path")
    pkg=$(dpkg -S "$real" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
    [ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
  fi
  # dpkg --purge refuses when another package depends on this one, which
  # keeps us from taking the task's own dependencies with it.
  if [ -n "$pkg" ] && dpkg --purge "$pkg" >/dev/null 2>&1; then
    say "$tool: purged package $pkg"
  elif [ -d /lib/apk/db ] && apk del "$tool" >/dev/null 2>&1; then
    say "$tool: removed package $tool"
  else
    rm -f "$path"
    say "$tool: deleted $path"
  fi
done

# --- package-manager caches and lists, docs, man pages ---------------------
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
  /var/cache/apk/* /var/cache/yum /var/cache/dnf \
  /root/.cache /root/.npm /root/.cargo/registry \
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/lintian \
  /var/log/apt /var/log/dpkg.log /var/log/alternatives.log
say "removed package caches and lists, docs and man pages"

# --- setuid and setgid (CIS Docker 4.8) ------------------------------------
# `-perm -4000 -o -perm -2000`, not `-perm /6000`: busybox find lacks `/MODE`.
# find's list is kept, not piped, so a failed chmod fails the step.
cleared=$(walk -type f \( -perm -4000 -o -perm -2000 \) -print -exec chmod ug-s {} +) \
  || { say "clearing setuid/setgid bits failed" >&2; exit 1; }
[ -z "$cleared" ] || printf '%s\n' "$cleared" | sed 's/^/harden: cleared setuid\/setgid: /'

# --- world-writable, outside sticky directories ----------------------------
cleared=$(walk ! -type l -perm -0002 ! \( -type d -perm -1000 \) -print -exec chmod o-w {} +) \
  || { say "clearing world-writable permissions failed" >&2; exit 1; }
[ -z "$cleared" ] || printf '%s\n' "$cleared" | sed 's/^/harden: cleared world-writable: /'
