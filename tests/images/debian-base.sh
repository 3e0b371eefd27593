#!/bin/sh
# A Debian bookworm base image made from Debian's packages: the tests' stand-in
# for the pinned debian:bookworm-slim (and, with tests/images/zap-standin,
# for zaproxy/zap-stable), which cannot be pulled here.
#
#   tests/images/debian-base.sh       prints the path of the rootfs tarball
#
# Like the slim image: the minbase variant (Essential and Priority: required
# packages plus apt), /usr merged as debootstrap merges it (usr-is-merged,
# not the usrmerge package and its Perl), and dpkg told to leave out docs,
# man pages and locales, for the packages installed later too (the slim
# image's dpkg.cfg.d does the same). The tarball is cached outside the clone, keyed by this script and the
# mirror it was made from: $BUILD_TASK_CACHE (default ~/.cache/build-task).
set -eu

suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

cache=${BUILD_TASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/build-task}
key=$( { cat "$0"; echo "$mirror $security"; } | sha256sum | cut -c1-16)
out="$cache/debian-$suite-$key.tar"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

command -v mmdebstrap >/dev/null 2>&1 || {
  echo "debian-base.sh: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2
  exit 1
}
mkdir -p "$cache"
tmp="$out.partial.$$"
trap 'rm -f "$tmp"' EXIT
# mmdebstrap's own log goes to stderr; a failure says which step failed.
# No device nodes in the tarball: an image's /dev is the runtime's.
mmdebstrap --variant=minbase --format=tar --quiet --skip=output/dev \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/groff/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/linda/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --aptopt='APT::Install-Recommends "false"' \
  "$suite" "$tmp" \
  "deb $mirror $suite main" \
  "deb $mirror $suite-updates main" \
  "deb $security $suite-security main" >&2
mv "$tmp" "$out"
trap - EXIT
echo "$out"
