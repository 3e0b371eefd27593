#!/bin/sh
# The a11y image's browser, measured three ways on the Debian stand-in base
# (tests/images/debian-base.sh), each as one apt-get layer on it:
#
#   chromium          chromium + chromium-driver + fonts, as build.sh did
#   chromium+dbus-x11 the same + dbus-x11 (what tasks/a11y/build.sh installs)
#   headless-shell    chromium-headless-shell + fonts (no chromedriver: Debian's
#                     driver depends on the full chromium)
#
# For each: the compressed size of the image (every layer, gzip as buildah
# pushes it), installed packages, and files. Needs root, buildah, mmdebstrap
# and Debian's mirror.
#
#   bench/images/run.sh
set -eu
cd "$(dirname "$0")/../.."
work=${BENCH_DIR:-target/bench-images}
rm -rf "$work"
mkdir -p "$work"
b() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }

tarball=$(tests/images/debian-base.sh)
ctr=$(b from scratch)
b add "$ctr" "$tarball" / >/dev/null
b commit --quiet "$ctr" localhost/bench-base >/dev/null
b rm "$ctr" >/dev/null

measure() {
  name=$1; shift
  tag="localhost/bench-$(printf %s "$name" | tr -c 'a-z0-9-' '-')"
  if [ $# -gt 0 ]; then
    printf 'FROM localhost/bench-base\nRUN apt-get update && apt-get install -y --no-install-recommends %s && apt-get clean && rm -rf /var/lib/apt/lists/*\n' "$*" > "$work/Containerfile"
    b bud --quiet --isolation chroot -t "$tag" -f "$work/Containerfile" "$work" >/dev/null
  else
    b tag localhost/bench-base "$tag"
  fi
  rm -rf "$work/oci"
  b push --quiet "$tag" "oci:$work/oci:x" >/dev/null
  compressed=$(python3 -c "
import json,sys
d=sys.argv[1]; i=json.load(open(d+'/index.json'))['manifests'][0]['digest'].replace(':','/')
print(sum(l['size'] for l in json.load(open(d+'/blobs/'+i))['layers']))" "$work/oci")
  c=$(b from --pull-never "$tag")
  root=$(b mount "$c")
  packages=$(grep -c '^Status: install ok installed' "$root/var/lib/dpkg/status")
  files=$(find "$root" -xdev ! -type d | wc -l)
  disk=$(du -sm "$root" | cut -f1)
  b umount "$c" >/dev/null
  b rm "$c" >/dev/null
  printf '%-22s %12s %9s %8s %8s\n' "$name" "$compressed" "$packages" "$files" "$disk"
}

printf '%-22s %12s %9s %8s %8s\n' image "compressed B" packages files "disk MB"
measure base
measure chromium ca-certificates chromium chromium-driver fonts-liberation
measure chromium+dbus-x11 ca-certificates chromium chromium-driver fonts-liberation dbus-x11
measure headless-shell ca-certificates chromium-headless-shell fonts-liberation
