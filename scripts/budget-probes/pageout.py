#!/usr/bin/env python3
"""Measurement only: ask the kernel to page out every file-backed mapping of PID
(process_madvise(MADV_PAGEOUT), Linux ≥ 5.10, root). Watch RssFile in /proc/PID/status
afterwards: what comes back is the code the process really keeps using; what stays out was
touched once at start-up. Pages shared with another process (e.g. a simulator running the
same binary) are not paged out: run the simulator from a copy of the binary.

Usage: pageout.py PID
"""
import ctypes
import sys

SYS_PIDFD_OPEN, SYS_PROCESS_MADVISE, MADV_PAGEOUT = 434, 440, 21  # x86_64


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
if pidfd < 0:
    raise SystemExit(f"pidfd_open failed: errno {ctypes.get_errno()}")
total = 0
for line in open(f"/proc/{pid}/maps"):
    p = line.split()
    if len(p) > 5 and p[5].startswith("/"):
        lo, hi = (int(x, 16) for x in p[0].split("-"))
        v = IoVec(lo, hi - lo)
        r = libc.syscall(SYS_PROCESS_MADVISE, pidfd, ctypes.byref(v), 1, MADV_PAGEOUT, 0)
        total += max(r, 0)
print(f"asked to page out {total / 1048576:.1f} MiB of file-backed mappings")
