#!/bin/sh
# Writes task-list/tasks.json: every folder of src/tasks/, as a JSON array of
# names. A name becomes an image tag and a Cloud Foundry app name
# (pages-<task>-task-<env>), so only lowercase letters, digits and dashes pass,
# and each folder must carry the .env that oci-build-task reads as build args.
set -eu
list=
for dir in src/tasks/*/; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir")
  case $name in
    -* | *[!a-z0-9-]*)
      echo "list-tasks: tasks/$name: a task folder name must be lowercase letters, digits and dashes" >&2
      exit 1 ;;
  esac
  if ! grep -q '^BASE_IMAGE=' "$dir.env" 2>/dev/null; then
    echo "list-tasks: tasks/$name/.env must set BASE_IMAGE (it is the image's build args)" >&2
    exit 1
  fi
  list="$list${list:+, }\"$name\""
done
if [ -z "$list" ]; then
  echo "list-tasks: src/tasks/ has no task folders" >&2
  exit 1
fi
printf '[%s]\n' "$list" > task-list/tasks.json
cat task-list/tasks.json
