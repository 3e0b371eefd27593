#!/bin/sh
# Writes notes/notes.md for the release of the tag in src/.git/ref (see
# release-notes.yml); fails when CHANGELOG.md has no section for it.
set -eu
version=$(cat src/.git/ref)
# The lines under `## <version> (<date>)`, up to the next `## `.
section=$(awk -v v="$version" '
  /^## / { if (found) exit; found = ($2 == v); next }
  found { print }
' src/CHANGELOG.md)
if [ -z "$(printf '%s' "$section" | tr -d '[:space:]')" ]; then
  echo "release-notes: src/CHANGELOG.md has no section for $version (commitizen's bump writes it)" >&2
  exit 1
fi
{
  printf '%s\n' "$section" | sed -e '/./,$!d'
  printf '\n### Bases\n\n'
  for env in src/tasks/*/.env; do
    task=$(basename "$(dirname "$env")")
    printf -- '- %s: `%s`\n' "$task" "$(sed -n 's/^BASE_IMAGE=//p' "$env")"
  done
} > notes/notes.md
cat notes/notes.md
