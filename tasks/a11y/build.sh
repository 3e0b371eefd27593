#!/bin/sh
# Installs what the a11y task needs in its image (Debian, as root, from /):
# Chromium's headless shell and fonts from Debian, and axe-core's axe.min.js
# from the npm package, checked against the integrity hash pinned here.
#
# axe-core is fetched with npm itself (Debian's package), which then leaves
# again with everything it pulled in: the image keeps no Node.js. The pinned
# hash, not the transport, is what makes the bytes trusted.
#
#   A11Y_BUILD_STEP=axe build.sh   only the axe-core step (no apt), for a try
#                                  outside an image with AXE_DIR set.
#
# Every step says what it does; one that fails says which and why, then the
# build stops. Behind a TLS-inspecting proxy, pass its CA as the build secret
# `extra-ca` (hardening/image-setup.sh): apt and npm then trust it.
set -eu

# The version the fixtures were recorded with; bump both lines together
# (`npm view axe-core@<version> dist.integrity`).
AXE_VERSION=4.13.0
AXE_INTEGRITY=sha512-UzGt8zg7Ny8djbYMhxl2zuEevVa7r2gJjYY5Lwr1xM7+XU2nd6CkIWFTVcCIbAP63vSz71NaVyyuSk9lHKcy0A==
# Where the task looks by default (BUILD_TASK_A11Y_AXE_JS overrides it at run time).
AXE_DIR=${AXE_DIR:-/usr/local/lib/axe-core}

say() { printf 'a11y build: %s\n' "$*"; }
fail() { say "$*" >&2; exit 1; }

# step WHAT COMMAND...: runs COMMAND, its output shown; a failure names WHAT.
step() {
  what=$1; shift
  say "$what"
  "$@" || fail "$what failed (exit $?): $*"
}

install_browser() {
  export DEBIAN_FRONTEND=noninteractive
  step "updating apt's package lists" apt-get update
  # The headless shell is Debian's chromium without its UI (no GTK, no X):
  # the task drives it over the DevTools protocol itself, with no driver.
  step "installing Chromium's headless shell and fonts" apt-get install -y --no-install-recommends \
    chromium-headless-shell fonts-liberation ca-certificates
  step "checking Chromium starts" chromium-headless-shell --version
}

install_axe() {
  tmp=$(mktemp -d)
  fetched_npm=no
  if ! command -v npm >/dev/null 2>&1; then
    step "installing npm to fetch axe-core" apt-get install -y --no-install-recommends npm
    fetched_npm=yes
  fi
  # npm's own messages (a registry or certificate error among them) reach
  # the build log; the tarball's name on stdout goes with them.
  step "fetching axe-core $AXE_VERSION from the npm registry" \
    npm pack --pack-destination "$tmp" --cache "$tmp/npm-cache" --loglevel warn "axe-core@$AXE_VERSION"
  tarball="$tmp/axe-core-$AXE_VERSION.tgz"
  [ -f "$tarball" ] || fail "npm pack did not write $tarball"
  # The integrity is base64 of the SHA-512; sha512sum prints hex.
  want=$(printf '%s' "${AXE_INTEGRITY#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  got=$(sha512sum "$tarball" | cut -d' ' -f1)
  [ "$want" = "$got" ] || fail "axe-core-$AXE_VERSION.tgz does not match its pinned integrity: refusing it"
  mkdir -p "$AXE_DIR"
  step "unpacking axe.min.js" tar -xzf "$tarball" -C "$tmp" package/axe.min.js package/LICENSE package/package.json
  install -m 0644 "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$tmp/package/package.json" "$AXE_DIR/"
  rm -rf "$tmp"
  say "axe-core $AXE_VERSION in $AXE_DIR (integrity checked)"
  if [ "$fetched_npm" = yes ]; then
    step "removing npm and Node.js again" apt-get purge -y --auto-remove npm nodejs
  fi
}

case "${A11Y_BUILD_STEP:-all}" in
  axe) install_axe ;;
  *)
    install_browser
    install_axe
    apt-get clean
    rm -rf /var/lib/apt/lists/* /root/.npm
    ;;
esac
