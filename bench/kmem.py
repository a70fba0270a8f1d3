#!/usr/bin/env python3
"""Where a container's accounted kernel memory goes, by allocation site.

    python3 bench/kmem.py [--containers N] [--moat PATH] RUNTIME [RUNTIME]

RUNTIME: moat, moat-compat, moat-baseline, runc, crun (crun wrapped as in the
benchmark: a private mount namespace without /sys/fs/cgroup/unified). Root
only; uses tracefs (mounted if needed).

For each runtime: start N (default 20) detached `sleep 3600` containers of
the density benchmark's busybox bundle with the kmem and percpu tracepoints
on, wait a second, stop tracing, delete them. Allocations made with memcg accounting (`accounted=true`,
`__GFP_ACCOUNT` pages and percpu chunks) that were not freed by then are
summed by call site (slab cache name in brackets; `page:COMM` for pages) and
divided by N. With two runtimes, a table of both and the difference, largest
first.

Caveats: objects freed through kfree_rcu's batches (css_set, for one) emit no
free event here and look live; vmalloc'ed kernel stacks are charged without
an accounted allocation event and do not show. Use it to find what differs
between runtimes, not as the total: bench/run.sh's density figure is the
memory cgroup's own charge.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

T = "/sys/kernel/tracing"
ALLOC = ["kmem/kmalloc", "kmem/kmem_cache_alloc", "kmem/mm_page_alloc", "percpu/percpu_alloc_percpu"]
FREE = ["kmem/kfree", "kmem/kmem_cache_free", "kmem/mm_page_free", "percpu/percpu_free_percpu"]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import UNIFIED, make_bundles  # noqa: E402  (the density benchmark's bundle)


def w(path, text):
    with open(os.path.join(T, path), "w") as f:
        f.write(text)


def command(rt, moat, root):
    return {
        "moat": [moat, "--root", root],
        "moat-compat": [moat, "--policy", "compat", "--root", root],
        "moat-baseline": [moat, "--policy", "baseline", "--root", root],
        "runc": ["runc", "--root", root],
        "crun": ["crun", "--root", root],
    }[rt]


def shell(rt, script):
    if rt == "crun" and os.path.ismount(UNIFIED):
        return ["unshare", "-m", "sh", "-c", "umount %s && %s" % (UNIFIED, script)]
    return ["sh", "-c", script]


def trace(rt, n, moat, tmp, b):
    root = os.path.join(tmp, "root-" + rt)
    pre = " ".join(command(rt, moat, root))
    ids = ["kmem%d" % i for i in range(n)]
    start = " ; ".join("%s run -d --bundle %s %s >/dev/null" % (pre, b, i) for i in ids)
    w("tracing_on", "0")
    w("trace", "")
    w("buffer_size_kb", "65536")
    # __GFP_ACCOUNT; kmem_cache_alloc also counts caches made SLAB_ACCOUNT.
    w("events/kmem/kmem_cache_alloc/filter", "accounted == 1")
    for e in ("kmem/kmalloc", "kmem/mm_page_alloc", "percpu/percpu_alloc_percpu"):
        w("events/%s/filter" % e, "gfp_flags & 0x400000")
    for e in ALLOC + FREE:
        w("events/%s/enable" % e, "1")
    w("tracing_on", "1")
    try:
        subprocess.run(shell(rt, start), check=True)
        time.sleep(1)
    finally:
        w("tracing_on", "0")
        for e in ALLOC + FREE:
            w("events/%s/enable" % e, "0")
        with open(os.path.join(T, "trace")) as f:
            text = f.read()
        w("trace", "")
        subprocess.run(shell(rt, " ; ".join("%s delete -f %s" % (pre, i) for i in ids)))
    if "LOST" in text:
        print("kmem: %s: the trace buffer overflowed; use fewer containers" % rt, file=sys.stderr)
    return live(text, n)


LINE = re.compile(r"^\s*(.+?)-\d+\s+\[\d+\].*?\s(kmalloc|kmem_cache_alloc|kfree|kmem_cache_free|mm_page_alloc|"
                  r"mm_page_free|percpu_alloc_percpu|percpu_free_percpu): (.*)$")


def live(text, n):
    objs = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        comm, ev, rest = m.groups()
        f = dict(re.findall(r"(\w+)=(\S+)", rest))
        if ev in ("kmalloc", "kmem_cache_alloc"):
            site = f["call_site"].split("+")[0]
            if ev == "kmem_cache_alloc":
                site += "[%s]" % f.get("name", "")
            objs[("s", f["ptr"])] = (site, int(f["bytes_alloc"]))
        elif ev in ("kfree", "kmem_cache_free"):
            objs.pop(("s", f["ptr"]), None)
        elif ev == "mm_page_alloc":
            objs[("p", f["pfn"])] = ("page:" + comm.strip(), 4096 << int(f["order"]))
        elif ev == "mm_page_free":
            objs.pop(("p", f["pfn"]), None)
        elif ev == "percpu_alloc_percpu":
            objs[("c", f["ptr"])] = ("percpu:" + f["call_site"].split("+")[0], int(f["bytes_alloc"]))
        else:
            objs.pop(("c", f["ptr"]), None)
    by = collections.Counter()
    for site, size in objs.values():
        by[site] += size
    return {k: v / n / 1024 for k, v in by.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runtimes", nargs="+")
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--moat", default=os.path.join(HERE, "..", "target", "x86_64-unknown-linux-gnu", "release", "moat"))
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(T, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", T], check=True)
    tmp = tempfile.mkdtemp(prefix="moat-kmem.")
    try:
        b = make_bundles(tmp, False)[1]["sleep"]
        res = [(rt, trace(rt, a.containers, a.moat, tmp, b)) for rt in a.runtimes[:2]]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = [r[0] for r in res]
    print("accounted kernel memory still allocated, KiB per container (%d containers)" % a.containers)
    print("total: " + "  ".join("%s %.1f" % (rt, sum(d.values())) for rt, d in res))
    sites = set().union(*(d for _, d in res))
    if len(res) == 2:
        x, y = res[0][1], res[1][1]
        print("%9s %9s %9s  site" % (names[0][:9], names[1][:9], "diff"))
        for s in sorted(sites, key=lambda s: -abs(x.get(s, 0) - y.get(s, 0)))[:a.top]:
            print("%9.2f %9.2f %+9.2f  %s" % (x.get(s, 0), y.get(s, 0), x.get(s, 0) - y.get(s, 0), s))
    else:
        d = res[0][1]
        for s in sorted(sites, key=lambda s: -d[s])[:a.top]:
            print("%9.2f  %s" % (d[s], s))


if __name__ == "__main__":
    main()
