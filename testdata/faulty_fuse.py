#!/usr/bin/python3
"""A read-only FUSE mirror of a directory whose chosen byte ranges fail with
EIO, as a failing disk's bad sectors do (for tests/read_faults.rs).

    /usr/bin/python3 testdata/faulty_fuse.py SRC MOUNTPOINT --bad REL:START:END [--bad ...]

REL is a path relative to SRC; a read overlapping [START, END) of that file
fails with EIO (reads are page aligned by the kernel, so the failing span is
the pages it touches). Runs in the foreground until unmounted (`umount
MOUNTPOINT`). Needs Debian's python3-fuse (run with /usr/bin/python3) and
/dev/fuse; exits 2 when they are missing. Every failed read is logged on
stderr as `EIO REL OFFSET SIZE`.
"""
import errno
import os
import stat
import sys

try:
    import fuse
except ImportError:
    sys.stderr.write("faulty_fuse.py: python3-fuse is missing (apt-get install python3-fuse)\n")
    sys.exit(2)

fuse.fuse_python_api = (0, 2)


def parse_args(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    src, mnt, bad = os.path.abspath(argv[1]), argv[2], {}
    rest = argv[3:]
    while rest:
        if rest[0] != "--bad" or len(rest) < 2:
            sys.stderr.write("faulty_fuse.py: expected --bad REL:START:END\n")
            sys.exit(2)
        rel, start, end = rest[1].rsplit(":", 2)
        bad.setdefault("/" + rel.lstrip("/"), []).append((int(start), int(end)))
        rest = rest[2:]
    return src, mnt, bad


SRC, MNT, BAD = parse_args(sys.argv)


class Faulty(fuse.Fuse):
    def _real(self, path):
        return os.path.join(SRC, path.lstrip("/"))

    def getattr(self, path):
        try:
            st = os.lstat(self._real(path))
        except OSError as e:
            return -e.errno
        r = fuse.Stat()
        for k in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid",
                  "st_size", "st_atime", "st_mtime", "st_ctime"):
            setattr(r, k, getattr(st, k))
        # Read-only mirror.
        r.st_mode &= ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        return r

    def readdir(self, path, offset):
        for name in [".", ".."] + sorted(os.listdir(self._real(path))):
            yield fuse.Direntry(name)

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            return -errno.EROFS
        return 0

    def read(self, path, size, offset):
        for start, end in BAD.get(path, []):
            if offset < end and offset + size > start:
                sys.stderr.write("EIO %s %d %d\n" % (path, offset, size))
                sys.stderr.flush()
                return -errno.EIO
        with open(self._real(path), "rb") as f:
            f.seek(offset)
            return f.read(size)


def main():
    if not os.path.exists("/dev/fuse"):
        sys.stderr.write("faulty_fuse.py: /dev/fuse is missing\n")
        sys.exit(2)
    server = Faulty(version="faulty_fuse", usage=__doc__, dash_s_do="setsingle")
    server.fuse_args.mountpoint = MNT
    server.fuse_args.add("ro")
    server.fuse_args.add("default_permissions")
    server.fuse_args.setmod("foreground")
    server.multithreaded = False
    server.main()


if __name__ == "__main__":
    main()
