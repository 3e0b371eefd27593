#!/bin/sh
# Writes TAG (<task>-<env>) to tag/tags. registry-image pushes exactly the tags
# in that file, since the resource's source names no tag of its own.
set -eu
: "${TAG:?TAG is the image tag, <task>-<env>}"
case $TAG in
  *[!a-z0-9-]* | -*) echo "tag: '$TAG' is not a tag of lowercase letters, digits and dashes" >&2; exit 1 ;;
esac
printf '%s\n' "$TAG" > tag/tags
