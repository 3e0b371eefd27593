# One Dockerfile for every task. Concourse's oci-build-task drives it with
#   BUILD_ARGS_FILE=tasks/<task>/.env        (each line passed as a build-arg)
#   BUILD_ARG_TASK_FOLDER=tasks/<task>
# so everything that differs between tasks lives in the task's .env:
#   BASE_IMAGE=<image>      the final stage's base (`scratch` for `example`)
#   BUILD_TASK=<task>       the task's name, for the image's ENV BUILD_TASK.
#                           Dockerfile syntax cannot cut it out of TASK_FOLDER
#                           portably (buildah has no ${VAR#…}); the builder
#                           derives the cargo feature from TASK_FOLDER in
#                           shell, and the RUN steps check the two agree.
#   IMAGE_KIND=scratch      only for a scratch base (default: base).
#
# The pipeline may build on a newer base than the .env pins (ci/README.md,
# "How a base moves"): it passes TRACKED_BASE=<repository>@<digest>, which
# the image-base stage takes before BASE_IMAGE, and BASE_DIGEST. A build arg
# cannot override a line of oci-build-task's BUILD_ARGS_FILE (the file's
# come last), hence a second name. The image's labels record the base it was
# built on: org.opencontainers.image.base.name and .base.digest.
#
# The trick for scratch: a scratch stage has no shell, so it cannot RUN
# anything. Its whole root filesystem (binary, /bin/sh, passwd, group, /root,
# sticky /tmp) is laid out by hardening/scratch-rootfs.sh in a stage that has
# a shell, and COPY'd in. The last stage is `FROM image-${IMAGE_KIND}`: either
# `image-scratch` (COPY only) or `image-base` (binary, build.sh, hardening, all
# RUN in the base). BuildKit builds only the stages the last one needs.
#
# The binary comes from one of two places, chosen by BINARY_SOURCE:
#   builder (default)  compiled here, in a Rust image pinned by digest;
#   context            already built on the host by hardening/static-binary.sh
#                      and laid out by hardening/scratch-rootfs.sh into
#                      ./layout of the build context. This builds offline
#                      (buildah bud, FROM scratch), which is how the tests
#                      prove the image here: tests/image.rs.
#
# BuildKit (oci-build-task) resolves `FROM <stage>-${ARG}` with the ARG's
# default; buildah only when the build-arg is passed explicitly, so with
# buildah pass BINARY_SOURCE and IMAGE_KIND even at their defaults.

ARG BASE_IMAGE
ARG TASK_FOLDER
ARG BUILD_TASK
ARG IMAGE_KIND=base
ARG BINARY_SOURCE=builder
ARG TRACKED_BASE=

# --- the static binary ------------------------------------------------------
# rust:1.95.0-slim-bookworm (the multi-arch index), the digest as pinned in
# public Dockerfiles of 2026 (e.g. ones commented "Digest pinned 2026-08-05").
# Bump tag and digest together. Fully qualified, so buildah resolves it too.
# The binary itself is built by the nightly pinned by date in
# hardening/static-binary.sh (NIGHTLY), with std's source: only a nightly
# builds std with the release profile (-Zbuild-std), which keeps every
# task's binary under 2,000,000 bytes. Bump the date in both places.
FROM docker.io/library/rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS builder
ARG TASK_FOLDER
ARG BUILD_TASK
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl \
 && rustup toolchain install nightly-2026-05-20 --profile minimal --component rust-src \
      --target x86_64-unknown-linux-musl \
 && cargo install cargo-auditable --version 0.7.7 --locked
WORKDIR /build-task
COPY . .
RUN set -eu; \
    task=${TASK_FOLDER#tasks/}; \
    [ "$task" = "$BUILD_TASK" ] \
      || { echo "TASK_FOLDER=$TASK_FOLDER but BUILD_TASK=$BUILD_TASK: set BUILD_TASK=$task in $TASK_FOLDER/.env" >&2; exit 1; }; \
    hardening/static-binary.sh "$task" /out/build-task; \
    hardening/scratch-rootfs.sh /out/build-task /layout

FROM scratch AS layout-builder
COPY --from=builder /layout/ /

# The offline way in: ./layout prepared on the host.
FROM scratch AS layout-context
COPY layout/ /

FROM layout-${BINARY_SOURCE} AS layout

# --- the image on scratch: the laid-out tree and nothing else --------------
FROM ${BASE_IMAGE} AS image-scratch
COPY --from=layout / /
ENV PATH=/usr/local/bin:/bin

# --- the image on a real base: binary, the task's build.sh, hardening ------
FROM ${TRACKED_BASE:-${BASE_IMAGE}} AS image-base
ARG TASK_FOLDER
ARG BUILD_TASK
# Yes to keep the build's extra CA in the image's trust store (see below).
ARG KEEP_EXTRA_CA=no
# The setup needs root; a base may end as another user (zaproxy/zap-stable:
# USER zap). Cloud Foundry runs tasks as root whatever USER says (CONTRACT
# B7), so the image stays root, as its tasks run.
USER root
COPY --from=layout /usr/local/bin/build-task /usr/local/bin/build-task
# `build.s[h]`: the task's build.sh when it has one. The glob may match
# nothing; the hardening scripts always match, so COPY does not fail.
COPY hardening/image-setup.sh hardening/entries.sh hardening/harden.sh ${TASK_FOLDER}/build.s[h] /tmp/build-task-setup/
# image-setup.sh runs build.sh (which installs what the task needs and names
# the fetch-only tools it used), entries.sh (the names pages-core's commands
# start build-task by) and harden.sh (removes those tools, caches, docs,
# setuid bits, world-writable permissions). One RUN, so none of it stays in
# a layer. A TLS-inspecting proxy's CA can be passed as the build secret
# `extra-ca`: trusted by apt, npm, pip and curl during this RUN only.
RUN --mount=type=secret,id=extra-ca,required=false \
    KEEP_EXTRA_CA="$KEEP_EXTRA_CA" sh /tmp/build-task-setup/image-setup.sh "$TASK_FOLDER" "$BUILD_TASK" \
 && rm -rf /tmp/build-task-setup

# --- the image -------------------------------------------------------------
FROM image-${IMAGE_KIND}
ARG BUILD_TASK
ARG BASE_IMAGE
ARG TRACKED_BASE
ARG BASE_DIGEST=
ARG SOURCE=https://github.com/cloud-gov/pages-cf-build-tasks
ARG REVISION=unknown
ARG VERSION=0.1.0
ENV BUILD_TASK=${BUILD_TASK}
# Cloud Foundry runs a task as root in / with `/bin/sh -c '<command>'`; the
# image's USER, ENTRYPOINT and CMD are ignored for tasks (CONTRACT B7).
WORKDIR /
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.title="build-task ${BUILD_TASK}" \
      org.opencontainers.image.base.name="${TRACKED_BASE:-${BASE_IMAGE}}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}"
