#!/bin/sh
# The one RUN of a non-scratch image (the Dockerfile's image-base stage), as
# root, with the setup files in the directory of this script:
#
#   1. an extra CA for the build, when one was given (see below);
#   2. on a Debian base, the distribution's updates (security updates
#      among them), before anything is installed: a pinned base is then
#      as current as the day of the build;
#   3. the task's build.sh, when it has one;
#   4. entries.sh: the names pages-core's commands start build-task by;
#   5. harden.sh, with the fetch-only tools build.sh named.
#
# Each step that fails says which and why, then the build stops.
#
# The updates come from the sources the base itself lists (the Debian image
# lists bookworm, bookworm-updates and bookworm-security). `apt-get update
# --error-on=any` makes a source that cannot be fetched an error rather than
# apt's warning, so a build never passes with stale package lists; after the
# upgrade nothing may remain upgradable (a package held back would be named
# and fail the build). A base without apt (busybox, scratch-like) skips the
# step and says so.
#
# An extra CA (a PEM file) for a TLS-inspecting proxy between the builder and
# the package registries: passed as the build secret `extra-ca`
# (`buildah bud --secret id=extra-ca,src=ca.pem`; oci-build-task:
# BUILDKIT_SECRET_extra-ca), mounted at /run/secrets/extra-ca for this RUN
# only. apt, npm, pip and curl trust it during the build; it does not stay in
# the image unless KEEP_EXTRA_CA=yes, which adds it to the image's trust store
# (/usr/local/share/ca-certificates, with update-ca-certificates).
#
#   image-setup.sh TASK_FOLDER BUILD_TASK
set -eu

task_folder=${1:?usage: image-setup.sh TASK_FOLDER BUILD_TASK}
task=${2:?usage: image-setup.sh TASK_FOLDER BUILD_TASK}
setup=$(cd "$(dirname "$0")" && pwd)
say() { printf 'image setup: %s\n' "$*"; }
fail() { say "$*" >&2; exit 1; }

[ "$task_folder" = "tasks/$task" ] \
  || fail "TASK_FOLDER=$task_folder but BUILD_TASK=$task: set BUILD_TASK=${task_folder#tasks/} in $task_folder/.env"
[ "$(id -u)" = 0 ] || fail "runs as root (the Dockerfile sets USER root for it), not as $(id -un)"

# --- 1. the extra CA ---------------------------------------------------------
extra_ca=/run/secrets/extra-ca
apt_conf=/etc/apt/apt.conf.d/99build-task-extra-ca
if [ -s "$extra_ca" ]; then
  grep -q -- '-----BEGIN CERTIFICATE-----' "$extra_ca" || fail "the extra-ca secret is not a PEM certificate"
  bundle="$setup/ca-bundle.pem"
  { [ -f /etc/ssl/certs/ca-certificates.crt ] && cat /etc/ssl/certs/ca-certificates.crt; cat "$extra_ca"; } > "$bundle"
  export NODE_EXTRA_CA_CERTS="$extra_ca" PIP_CERT="$bundle" CURL_CA_BUNDLE="$bundle" SSL_CERT_FILE="$bundle"
  if [ -d /etc/apt/apt.conf.d ]; then
    printf 'Acquire::https::CAInfo "%s";\n' "$bundle" > "$apt_conf"
  fi
  say "trusting the extra CA for this build"
fi

# --- 2. the distribution's updates ------------------------------------------
if [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  say "applying the distribution's updates (apt-get update, upgrade)"
  apt-get update --error-on=any \
    || fail "apt-get update failed (exit $?): a package source of the base cannot be reached, so its security updates cannot be applied"
  # confold: a package's changed config file keeps the base's version, with no question asked.
  apt-get upgrade -y --with-new-pkgs -o Dpkg::Options::=--force-confold \
    || fail "apt-get upgrade failed (exit $?); its output above says why"
  left=$(apt list --upgradable 2>/dev/null | grep -v '^Listing' || true)
  [ -z "$left" ] || fail "after the upgrade these packages are still upgradable (held back?): $(echo "$left" | cut -d/ -f1 | tr '\n' ' ')"
  say "the base's packages are current"
else
  say "no apt in this base: no distribution updates applied"
fi

# --- 3. the task's build.sh --------------------------------------------------
export FETCH_TOOLS="$setup/fetch-tools"
: > "$FETCH_TOOLS"
if [ -f "$setup/build.sh" ]; then
  chmod +x "$setup/build.sh"
  (cd / && "$setup/build.sh") || fail "$task_folder/build.sh failed (exit $?); its output above says why"
fi

# --- 4. entries --------------------------------------------------------------
sh "$setup/entries.sh" || fail "hardening/entries.sh failed (exit $?)"

# --- the extra CA leaves, or stays when asked --------------------------------
rm -f "$apt_conf"
if [ -s "$extra_ca" ] && [ "${KEEP_EXTRA_CA:-no}" = yes ]; then
  command -v update-ca-certificates >/dev/null 2>&1 || fail "KEEP_EXTRA_CA=yes needs the ca-certificates package in the image"
  install -m 0644 "$extra_ca" /usr/local/share/ca-certificates/build-task-extra-ca.crt
  update-ca-certificates >/dev/null || fail "update-ca-certificates failed (exit $?)"
  say "kept the extra CA in the image's trust store (KEEP_EXTRA_CA=yes)"
fi

# --- 5. hardening --------------------------------------------------------------
# shellcheck disable=SC2046 # one tool a line, no spaces in tool names
sh "$setup/harden.sh" $(cat "$FETCH_TOOLS") || fail "hardening/harden.sh failed (exit $?)"
