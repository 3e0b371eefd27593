#!/bin/sh
# Lays out the root filesystem of a scratch image around the static binary:
#
#   /usr/local/bin/build-task   the binary
#   /bin/sh -> /usr/local/bin/build-task
#                               CF starts every task as `/bin/sh -c '<command>'`;
#                               the binary sees argv[0] = /bin/sh and takes its
#                               `sh -c` entry (src/sh.rs)
#   /etc/passwd, /etc/group     a root entry, which CF requires
#   /root                       root's home, which CF requires (0700)
#   /tmp                        1777, where the runtime keeps its scratch space
#
# and nothing else. A scratch stage has no shell to RUN this in, so the
# Dockerfile runs it in its builder stage (or the host runs it for an offline
# build) and COPYs the result: COPY keeps modes, the sticky bit and symlinks.
#
#   hardening/scratch-rootfs.sh BINARY DIR
set -eu

binary=${1:?usage: hardening/scratch-rootfs.sh BINARY DIR}
dir=${2:?usage: hardening/scratch-rootfs.sh BINARY DIR}

rm -rf "$dir"
mkdir -p "$dir/usr/local/bin" "$dir/bin" "$dir/etc" "$dir/root" "$dir/tmp"
cp "$binary" "$dir/usr/local/bin/build-task"
chmod 0755 "$dir/usr/local/bin/build-task"
ln -s /usr/local/bin/build-task "$dir/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$dir/etc/passwd"
printf 'root:x:0:\n' > "$dir/etc/group"
chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
chmod 0755 "$dir" "$dir/usr" "$dir/usr/local" "$dir/usr/local/bin" "$dir/bin" "$dir/etc"
chmod 0700 "$dir/root"
chmod 1777 "$dir/tmp"
