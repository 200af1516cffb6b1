#!/usr/bin/env python3
"""How much of sled 0.34.7's global metrics histograms is really resident in a running agent.

Usage (root, or the agent's user with ptrace rights): histograms.py PID
Reads the symbol `sled::metrics::M` (a Lazy holding a pointer to the Metrics struct) from the
agent's binary with `nm`, follows it through /proc/PID/mem, finds every Vec of 65,536 counters
(len == cap == 65536) and counts the present pages of each in /proc/PID/pagemap.
Read pagemap before touching the memory: reading unmapped pages through /proc/PID/mem maps
the shared zero page, which pagemap then reports as present.
"""
import os
import struct
import subprocess
import sys

pid = int(sys.argv[1])
exe = os.readlink(f"/proc/{pid}/exe")
nm = subprocess.run(["nm", exe], capture_output=True, text=True, check=True).stdout
sym = next(int(l.split()[0], 16) for l in nm.splitlines() if "sled7metrics1M" in l)
base = None
for line in open(f"/proc/{pid}/maps"):
    p = line.split()
    if len(p) > 5 and p[5] == exe and p[2] == "00000000":
        base = int(p[0].split("-")[0], 16)
        break
mem = open(f"/proc/{pid}/mem", "rb")
pagemap = open(f"/proc/{pid}/pagemap", "rb")


def resident_pages(lo: int, hi: int) -> int:
    n = 0
    for page in range(lo // 4096, (hi + 4095) // 4096):
        pagemap.seek(page * 8)
        if struct.unpack("<Q", pagemap.read(8))[0] >> 63:
            n += 1
    return n


mem.seek(base + sym)
words = struct.unpack("<4Q", mem.read(32))
for w in words:
    if w < 0x10000:
        continue
    try:
        mem.seek(w)
        raw = mem.read(8192)
    except OSError:
        continue
    ws = struct.unpack(f"<{len(raw) // 8}Q", raw)
    pages = []
    i = 0
    while i < len(ws) - 2:
        t = ws[i : i + 3]
        if t.count(65536) == 2:
            ptr = next(x for x in t if x != 65536)
            pages.append(resident_pages(ptr, ptr + 65536 * 8))
            i += 3
        else:
            i += 1
    if pages:
        print(f"{len(pages)} histograms, resident pages each: {pages}")
        print(f"resident: {sum(pages) * 4} KiB of {len(pages) * 512} KiB allocated")
        break
