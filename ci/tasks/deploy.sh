#!/bin/sh
# Pushes pages-<task>-task-<env> from <repository>:<task>-<env>.
#
# The app name comes from the manifest with `--var task=<task>`, so one manifest
# serves every task without relying on the CLI renaming a manifest's app.
# Secrets stay in the environment: `cf auth` reads CF_USERNAME and CF_PASSWORD,
# `cf push` reads CF_DOCKER_PASSWORD. The app's command is not set here:
# pages-core gives each CF task its command when it starts one.
set -eu
for name in BUILD_TASK DEPLOY_ENV CF_MANIFEST_FILE CF_VARS_FILE CF_API CF_ORG CF_SPACE \
  CF_USERNAME CF_PASSWORD CF_DOCKER_USERNAME CF_DOCKER_PASSWORD; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "deploy: $name is not set" >&2
    exit 1
  fi
done

repository=$(cat image-repository/repository)
tag=$(cat image-repository/tag)
if [ "$tag" != "$BUILD_TASK-$DEPLOY_ENV" ]; then
  echo "deploy: the pushed tag is '$tag', not '$BUILD_TASK-$DEPLOY_ENV'" >&2
  exit 1
fi

cf api "$CF_API"
cf auth
cf target -o "$CF_ORG" -s "$CF_SPACE"
cf push \
  -f "$CF_MANIFEST_FILE" \
  --vars-file "$CF_VARS_FILE" \
  --var "task=$BUILD_TASK" \
  --docker-image "$repository:$tag" \
  --docker-username "$CF_DOCKER_USERNAME"
