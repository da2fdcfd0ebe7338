#!/usr/bin/python3
"""plfs: a FUSE filesystem that survives a simulated power cut with only what was made durable.

Usage: plfs.py IMAGE MOUNTPOINT

The tree lives in memory. Each file keeps its live bytes and the bytes it had at its last
fsync/fdatasync (msync(MS_SYNC) and fdatasync both arrive as FUSE fsync requests). Each
directory keeps its live entries and the entries it had at its last fsync of the directory.
Nothing else is durable: a new file whose directory was never fsynced disappears, a rename is
undone, a file that was never fsynced comes back empty, an unlink comes back.

IMAGE is a real directory: the durable tree is loaded from it at mount. Writing "cut" to
MOUNTPOINT/.plfs-ctl is the power cut: the durable tree replaces IMAGE, and from then on every
request fails with EIO until the filesystem is unmounted (the next mount is the reboot).
Reading .plfs-ctl returns "alive" or "dead" and counters.

Requests are served one at a time (nothreads), so a cut falls between two requests: an fsync
either completed before it (and is durable) or fails with EIO.

PLFS_WRITEBACK=P (0..1, default 0) models a disk that also wrote back some of what was never
synced, in any order, as POSIX allows: at the cut each directory keeps its live entries with
probability P, each file its live size with probability P, and each 4 KiB page that differs
from the synced one its live bytes with probability P. PLFS_SEED seeds the choice.
"""
import errno
import os
import random
import shutil
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

CTL = "/.plfs-ctl"


class Node:
    def __init__(self, is_dir, mode):
        self.is_dir = is_dir
        self.mode = mode
        self.mtime = time.time()
        if is_dir:
            self.entries = {}
            self.durable = {}
        else:
            self.data = bytearray()
            self.durable = b""
            self.durable_mtime = self.mtime


class PowerLossFS(Operations):
    use_ns = False

    def __init__(self, image):
        self.image = os.path.abspath(image)
        self.root = self.load(self.image)
        self.dead = False
        self.fhs = {}
        self.next_fh = 1
        self.counts = {"fsync": 0, "fsyncdir": 0, "write": 0}
        self.writeback = float(os.environ.get("PLFS_WRITEBACK", "0"))
        self.rng = random.Random(int(os.environ.get("PLFS_SEED", "1")))

    # ---- the durable image ----

    def load(self, path):
        node = Node(True, 0o755)
        for name in sorted(os.listdir(path)):
            p = os.path.join(path, name)
            if os.path.isdir(p):
                child = self.load(p)
            else:
                child = Node(False, 0o644)
                with open(p, "rb") as f:
                    child.data = bytearray(f.read())
                child.durable = bytes(child.data)
                child.mtime = child.durable_mtime = os.stat(p).st_mtime
            node.entries[name] = child
            node.durable[name] = child
        return node

    def written_back(self):
        return self.writeback > 0 and self.rng.random() < self.writeback

    def disk_bytes(self, node):
        """What the disk holds for a file at the cut: the synced bytes, plus written-back
        pages of the live ones when PLFS_WRITEBACK is set."""
        synced = node.durable
        if self.writeback <= 0:
            return synced
        live = bytes(node.data)
        size = len(live) if self.written_back() else len(synced)
        out = bytearray(synced[:size])
        out.extend(b"\0" * (size - len(out)))
        for page in range(0, size, 4096):
            lp = live[page:page + 4096]
            if lp != synced[page:page + 4096] and self.written_back():
                n = min(len(lp), size - page)
                out[page:page + n] = lp[:n]
        return bytes(out)

    def save(self, node, path):
        os.mkdir(path)
        entries = node.entries if self.written_back() else node.durable
        for name, child in entries.items():
            p = os.path.join(path, name)
            if child.is_dir:
                self.save(child, p)
            else:
                with open(p, "wb") as f:
                    f.write(self.disk_bytes(child))
                os.utime(p, (child.durable_mtime, child.durable_mtime))

    def cut(self):
        tmp = self.image + ".new"
        old = self.image + ".old"
        for p in (tmp, old):
            if os.path.exists(p):
                shutil.rmtree(p)
        self.save(self.root, tmp)
        os.rename(self.image, old)
        os.rename(tmp, self.image)
        shutil.rmtree(old)
        self.dead = True

    # ---- lookup ----

    def check(self):
        if self.dead:
            raise FuseOSError(errno.EIO)

    def lookup(self, path):
        node = self.root
        for part in path.split("/"):
            if part == "":
                continue
            if not node.is_dir or part not in node.entries:
                raise FuseOSError(errno.ENOENT)
            node = node.entries[part]
        return node

    def parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        node = self.lookup(head)
        if not node.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        return node, name

    def node_of(self, path, fh):
        if fh is not None and fh in self.fhs:
            return self.fhs[fh]
        return self.lookup(path)

    def new_fh(self, node):
        fh = self.next_fh
        self.next_fh += 1
        self.fhs[fh] = node
        return fh

    # ---- attributes ----

    def getattr(self, path, fh=None):
        if path == CTL:
            return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": 4096}
        self.check()
        node = self.node_of(path, fh)
        t = node.mtime
        if node.is_dir:
            return {"st_mode": stat.S_IFDIR | node.mode, "st_nlink": 2, "st_size": 4096,
                    "st_mtime": t, "st_atime": t, "st_ctime": t}
        return {"st_mode": stat.S_IFREG | node.mode, "st_nlink": 1, "st_size": len(node.data),
                "st_mtime": t, "st_atime": t, "st_ctime": t, "st_blocks": (len(node.data) + 511) // 512}

    def chmod(self, path, mode):
        self.check()
        self.lookup(path).mode = mode & 0o7777

    def chown(self, path, uid, gid):
        self.check()

    def utimens(self, path, times=None):
        self.check()
        node = self.lookup(path)
        node.mtime = times[1] if times else time.time()

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 22, "f_bfree": 1 << 21,
                "f_bavail": 1 << 21, "f_files": 1 << 20, "f_ffree": 1 << 19, "f_namemax": 255}

    def access(self, path, amode):
        if path != CTL:
            self.check()
            self.lookup(path)

    # ---- directories ----

    def mkdir(self, path, mode):
        self.check()
        parent, name = self.parent(path)
        if name in parent.entries:
            raise FuseOSError(errno.EEXIST)
        parent.entries[name] = Node(True, mode & 0o7777)
        parent.mtime = time.time()

    def rmdir(self, path):
        self.check()
        parent, name = self.parent(path)
        node = parent.entries.get(name)
        if node is None:
            raise FuseOSError(errno.ENOENT)
        if not node.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        if node.entries:
            raise FuseOSError(errno.ENOTEMPTY)
        del parent.entries[name]

    def opendir(self, path):
        self.check()
        node = self.lookup(path)
        if not node.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        return self.new_fh(node)

    def readdir(self, path, fh):
        self.check()
        node = self.node_of(path, fh)
        names = [".", ".."] + list(node.entries)
        if node is self.root:
            names.append(CTL[1:])
        return names

    def releasedir(self, path, fh):
        self.fhs.pop(fh, None)

    def fsyncdir(self, path, datasync, fh):
        self.check()
        node = self.node_of(path, fh)
        node.durable = dict(node.entries)
        self.counts["fsyncdir"] += 1
        return 0

    # ---- files ----

    def create(self, path, mode, fi=None):
        self.check()
        parent, name = self.parent(path)
        node = parent.entries.get(name)
        if node is None:
            node = Node(False, mode & 0o7777)
            parent.entries[name] = node
            parent.mtime = time.time()
        return self.new_fh(node)

    def open(self, path, flags):
        if path == CTL:
            return 0
        self.check()
        node = self.lookup(path)
        if node.is_dir:
            raise FuseOSError(errno.EISDIR)
        if flags & os.O_TRUNC:
            node.data = bytearray()
        return self.new_fh(node)

    def release(self, path, fh):
        self.fhs.pop(fh, None)

    def flush(self, path, fh):
        return 0

    def read(self, path, size, offset, fh):
        if path == CTL:
            text = ("%s fsync=%d fsyncdir=%d write=%d\n" % (
                "dead" if self.dead else "alive", self.counts["fsync"], self.counts["fsyncdir"],
                self.counts["write"])).encode()
            return text[offset:offset + size]
        self.check()
        node = self.node_of(path, fh)
        return bytes(node.data[offset:offset + size])

    def write(self, path, data, offset, fh):
        if path == CTL:
            if data.strip() == b"cut" and not self.dead:
                self.cut()
            return len(data)
        self.check()
        node = self.node_of(path, fh)
        end = offset + len(data)
        if end > len(node.data):
            node.data.extend(b"\0" * (end - len(node.data)))
        node.data[offset:end] = data
        node.mtime = time.time()
        self.counts["write"] += 1
        return len(data)

    def truncate(self, path, length, fh=None):
        if path == CTL:
            return
        self.check()
        node = self.node_of(path, fh)
        if length < len(node.data):
            del node.data[length:]
        else:
            node.data.extend(b"\0" * (length - len(node.data)))
        node.mtime = time.time()

    def fsync(self, path, datasync, fh):
        if path == CTL:
            return 0
        self.check()
        node = self.node_of(path, fh)
        node.durable = bytes(node.data)
        node.durable_mtime = node.mtime
        self.counts["fsync"] += 1
        return 0

    def unlink(self, path):
        self.check()
        parent, name = self.parent(path)
        if name not in parent.entries:
            raise FuseOSError(errno.ENOENT)
        del parent.entries[name]
        parent.mtime = time.time()

    def rename(self, old, new):
        self.check()
        op, oname = self.parent(old)
        np, nname = self.parent(new)
        node = op.entries.get(oname)
        if node is None:
            raise FuseOSError(errno.ENOENT)
        del op.entries[oname]
        np.entries[nname] = node
        op.mtime = np.mtime = time.time()

    def link(self, target, source):
        raise FuseOSError(errno.EPERM)

    def symlink(self, target, source):
        raise FuseOSError(errno.EPERM)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: plfs.py IMAGE MOUNTPOINT\n")
        return 2
    image, mnt = sys.argv[1], sys.argv[2]
    os.makedirs(image, exist_ok=True)
    # hard_remove: an unlinked open file is gone at once (no .fuse_hidden renames in the tree);
    # no direct_io, so the kernel page cache backs shared writable mmap (the commit log).
    FUSE(PowerLossFS(image), mnt, foreground=True, nothreads=True, hard_remove=True,
         default_permissions=True, fsname="plfs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
