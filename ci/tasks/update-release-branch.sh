#!/bin/sh
# Bumps the release on the branch `release` (update-release-branch.yml):
# `cz bump` from main's head; when there is something to release, pushes
# the branch and its tag and opens (or retitles) the pull request to main.
# With nothing to release since the last tag, says so and succeeds.
set -eu
for name in GH_EMAIL GH_USERNAME GH_BOT_GPG_KEY GH_BOT_GPG_TRUST GH_BOT_SSH_KEY GH_TOKEN COMMITIZEN_VERSION; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "update-release-branch: $name is not set" >&2
    exit 1
  fi
done
fail() { echo "update-release-branch: $*" >&2; exit 1; }

# --- tools: gh from Debian, commitizen from PyPI in a virtualenv -------------
need=
command -v gh >/dev/null 2>&1 || need="$need gh"
# Debian's python3 makes a virtualenv only with python3-venv (ensurepip).
python3 -c 'import ensurepip' 2>/dev/null || need="$need python3-venv"
if [ -n "$need" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null \
    || fail "cannot install$need"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/cz" && "$work/cz/bin/pip" install -q "commitizen==$COMMITIZEN_VERSION" \
  || fail "cannot install commitizen $COMMITIZEN_VERSION"

# --- the bot's keys, in this task's own home ---------------------------------
export HOME="$work/home" GNUPGHOME="$work/home/.gnupg"
mkdir -p "$HOME/.ssh" "$GNUPGHOME" && chmod 700 "$HOME/.ssh" "$GNUPGHOME"
printf '%s\n' "$GH_BOT_SSH_KEY" > "$HOME/.ssh/id" && chmod 600 "$HOME/.ssh/id"
export GIT_SSH_COMMAND="ssh -i $HOME/.ssh/id -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
printf '%s\n' "$GH_BOT_GPG_KEY" | gpg --batch --quiet --import || fail "cannot import the bot's GPG key"
printf '%s\n' "$GH_BOT_GPG_TRUST" | gpg --batch --quiet --import-ownertrust || fail "cannot import the GPG key's trust"

cd src
git config user.email "$GH_EMAIL"
git config user.name "$GH_USERNAME"
git config commit.gpgSign true
git config tag.gpgSign true
git checkout -q -B release

# --- the bump: exit 21 is commitizen's "no commits to bump" ------------------
status=0
notes=$("$work/cz/bin/cz" bump --dry-run --changelog-to-stdout --yes 2>/dev/null) || true
"$work/cz/bin/cz" bump --yes || status=$?
case $status in
  0) ;;
  21) echo "update-release-branch: nothing to release since the last tag"; exit 0 ;;
  *) fail "cz bump failed (exit $status); its output above says why" ;;
esac
title=$(git log -1 --pretty=%s | sed 's/^chore: release /Release /')
git remote set-url origin "git@github.com:$(git remote get-url origin | sed -E 's#^(https://github.com/|git@github.com:)##')"
git push --force origin release --tags || fail "cannot push the branch release and its tag"
body=$(printf '## Release\n%s\n\n## Security considerations\nNoted in each pull request this release takes in.\n' "$notes")
if [ "$(gh pr view release --json state --jq .state 2>/dev/null)" = OPEN ]; then
  gh pr edit release --title "$title" --body "$body" || fail "cannot update the release pull request"
else
  gh pr create --head release --base main --title "$title" --body "$body" || fail "cannot open the release pull request"
fi
echo "update-release-branch: $title is on the branch release"
