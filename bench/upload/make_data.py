"""Writes the bench's three cases under <dir>: a/ (one 1 GiB file),
b/ (2,000 files of 20 KiB), c/ (400 files of 200 KiB and one 50 MiB file),
and d/ (one 1 MiB file: the memory baseline for a).
Random bytes, so nothing on the way can compress them."""

import os
import sys

KIB, MIB = 1024, 1024 * 1024


def write(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n


def main(root):
    write(os.path.join(root, "a", "big.bin"), 1024 * MIB)
    for i in range(2000):
        write(os.path.join(root, "b", f"d{i // 100:02}", f"f{i:04}.json"), 20 * KIB)
    for i in range(400):
        write(os.path.join(root, "c", "pages", f"p{i:03}.html"), 200 * KIB)
    write(os.path.join(root, "c", "video.bin"), 50 * MIB)
    write(os.path.join(root, "d", "small.bin"), MIB)


if __name__ == "__main__":
    main(sys.argv[1])
