#!/bin/sh
# Writes notes/notes.md for the release of the tag in src/.git/ref (see
# release-notes.yml); fails when CHANGELOG.md has no section for the tag,
# when an image's SBOM is of another build than the tag's, or when it lists
# none of the binary's crates.
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
# An image label (the Dockerfile's) from an SBOM in syft's JSON.
label() { jq -r --arg k "org.opencontainers.image.$2" '.source.metadata.labels[$k] // ""' "$1"; }
{
  printf '%s\n' "$section" | sed -e '/./,$!d'
  printf '\n### Images\n\n'
  for env in src/tasks/*/.env; do
    task=$(basename "$(dirname "$env")")
    sbom="sbom-$task/build-task-$task.syft.json"
    if [ ! -f "$sbom" ]; then
      echo "release-notes: no SBOM of the $task image ($sbom): the release job must make one for every task" >&2
      exit 1
    fi
    revision=$(label "$sbom" revision)
    if [ "$revision" != "$version" ]; then
      echo "release-notes: the $task image in ECR is of revision '$revision', not $version: its resource was not checked since the push; re-run the job" >&2
      exit 1
    fi
    # The binary's own crates, from the list cargo-auditable embeds in it.
    crates=$(jq '[.artifacts[] | select(.type == "rust-crate")] | length' "$sbom")
    if [ "$crates" -eq 0 ]; then
      echo "release-notes: the SBOM of the $task image lists no crate of build-task (is the list cargo-auditable embeds still in the binary?)" >&2
      exit 1
    fi
    digest=$(jq -r '.source.metadata.manifestDigest // ""' "$sbom")
    base=$(label "$sbom" base.name)
    base_digest=$(label "$sbom" base.digest)
    # A pinned base names its digest already.
    case $base in *"$base_digest"*) base_digest= ;; esac
    printf -- '- %s: `%s`, built on `%s`%s; SBOM: build-task-%s.spdx.json (%s crates)\n' \
      "$task" "$digest" "$base" "${base_digest:+ ($base_digest)}" "$task" "$crates"
  done
} > notes/notes.md
cat notes/notes.md
