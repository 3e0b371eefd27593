#!/bin/sh
# Writes base/tracked and base/digest for the task named by BUILD_TASK (see
# base.yml): the tracked base's newest digest when TRACK_BASES is true and
# the pipeline fetched <task>-base, else the digest tasks/<task>/.env pins.
set -eu
: "${BUILD_TASK:?BUILD_TASK names the task whose base is chosen}"
: "${TRACK_BASES:?TRACK_BASES is true (build on the tracked base) or false}"
pinned=$(sed -n 's/^BASE_IMAGE=//p' "src/tasks/$BUILD_TASK/.env")
[ -n "$pinned" ] || { echo "base: src/tasks/$BUILD_TASK/.env sets no BASE_IMAGE" >&2; exit 1; }
tracked_dir="$BUILD_TASK-base"
if [ "$TRACK_BASES" = true ] && [ -f "$tracked_dir/digest" ]; then
  digest=$(cat "$tracked_dir/digest")
  case $digest in
    sha256:*) ;;
    *) echo "base: $tracked_dir/digest is '$digest', not a sha256 digest" >&2; exit 1 ;;
  esac
  tracked="$(cat "$tracked_dir/repository")@$digest"
  echo "base: the $BUILD_TASK image is built on the tracked $tracked (the .env pins $pinned)"
else
  tracked=
  case $pinned in
    *@sha256:*) digest=${pinned##*@} ;;
    *) digest= ;;
  esac
  echo "base: the $BUILD_TASK image is built on the pinned $pinned"
fi
printf '%s' "$tracked" > base/tracked
printf '%s' "$digest" > base/digest
