#!/usr/bin/env python3
"""moat's benchmark harness: moat against runc, crun (and youki when installed).

Python 3.11, standard library only (matplotlib, if importable, draws the PNG).
Run it through bench/run.sh, which installs the Debian packages it needs.

Every measurement interleaves the runtimes (one sample of each, in an order
that rotates every round) on the same bundle, after a warm-up, and reports
medians with the 25th-75th percentile spread. See docs/perf.md for the method.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UNIFIED = "/sys/fs/cgroup/unified"
# crun 1.8 refuses a hybrid host; in a private mount namespace without the
# cgroup2 mount it sees plain cgroup v1. "$0" is the program to exec.
WRAP = 'umount %s && exec "$0" "$@"' % UNIFIED
PREFIX = "mb%d" % os.getpid()  # every container id and cgroup we make starts so
DENSITY_W = 20  # progress steps a density round is worth (it takes ~50 samples' time)
CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # runc spec's set
SECCOMP_PROFILE = "/usr/share/containers/seccomp.json"


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- utilities


def q(values, p):
    """Percentile p (0..100) by linear interpolation."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def summary(values):
    return {
        "n": len(values),
        "median": statistics.median(values) if values else float("nan"),
        "p25": q(values, 25),
        "p75": q(values, 75),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
    }


class Progress:
    """One line on a terminal; a line per 10% otherwise (CI logs)."""

    def __init__(self, total):
        self.total = max(total, 1)
        self.done = 0
        self.label = ""
        self.tty = sys.stderr.isatty()
        self.last_decile = -1
        self.t0 = time.monotonic()

    def step(self, n=1, label=None):
        self.done = min(self.done + n, self.total)
        if label:
            self.label = label
        frac = self.done / self.total
        if self.tty:
            width = 30
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            el = time.monotonic() - self.t0
            sys.stderr.write("\r[%s] %3d%% %5.0fs  %-40s" % (bar, frac * 100, el, self.label[:40]))
            sys.stderr.flush()
        else:
            d = int(frac * 10)
            if d != self.last_decile:
                self.last_decile = d
                sys.stderr.write("bench: %3d%% %s\n" % (frac * 100, self.label))
                sys.stderr.flush()

    def set(self, label):
        self.label = label
        self.step(0)

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


class Runner:
    """Spawns commands with posix_spawn and times them spawn-to-reap."""

    def __init__(self, tmp):
        self.errpath = os.path.join(tmp, "stderr.log")

    def spawn(self, argv, stdout_path="/dev/null", env=None):
        fa = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, self.errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawnp(argv[0], argv, env if env is not None else os.environ, file_actions=fa)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        return (t1 - t0) / 1e6, os.waitstatus_to_exitcode(status), ru.ru_maxrss

    def run(self, argv, what, check=True, **kw):
        ms, rc, maxrss = self.spawn(argv, **kw)
        if check and rc != 0:
            raise BenchError("%s failed (exit %d): %s\n%s" % (what, rc, " ".join(argv), self.stderr_tail()))
        return ms, rc, maxrss

    def stderr_tail(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


class Runtime:
    def __init__(self, name, path, wrapped, tmp):
        self.name = name
        self.path = path
        self.wrapped = wrapped
        self.root = os.path.join(tmp, "roots", name)
        os.makedirs(self.root, exist_ok=True)
        self.live = set()  # ids that may exist

    def argv(self, *args, prog=None):
        prog = prog or [self.path]
        if self.wrapped:
            return ["unshare", "-m", "sh", "-c", WRAP] + prog + list(args)
        return prog + list(args)

    def cmd(self, *args, prog=None):
        return self.argv("--root", self.root, *args, prog=prog)

    def label(self):
        return self.name + (" (wrapped)" if self.wrapped else "")


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


# The density loop's own v1 memory cgroup (hybrid and v1 hosts; elsewhere the
# charged-memory column stays empty): a new one per round (MEMCG-<runtime>-<n>).
# One for all rounds let the last round's leftovers (dentries and page cache of
# deleted containers, reparented to it) be freed during the next round's
# measurement: +-20 KiB per container between rounds instead of +-3.
MEMCG = "/moat-bench-density"


def drain_memcg_stocks():
    """Return the per-CPU charge caches to their memory cgroups.

    A charge takes a batch of up to 64 pages from a cgroup's counter and
    keeps the unused rest in a per-CPU cache for that cgroup, still counted
    in its usage_in_bytes: up to 256 KiB per CPU of the last cgroup charged
    there (2.5 KiB per container at 100). A charge to another cgroup on that
    CPU hands the cache back. So: on each CPU, a process in a cgroup of its
    own touches some memory."""
    d = "/sys/fs/cgroup/memory%s-drain" % MEMCG
    try:
        os.makedirs(d, exist_ok=True)
    except OSError:
        return
    for cpu in sorted(os.sched_getaffinity(0)):
        subprocess.run(["taskset", "-c", str(cpu), "sh", "-c",
                        'echo $$ > "%s/cgroup.procs" && head -c 1048576 /dev/zero | cat >/dev/null' % d],
                       capture_output=True)
    try:
        os.rmdir(d)
    except OSError:
        pass


def memcg_usage_kb(path):
    try:
        os.makedirs("/sys/fs/cgroup/memory" + path, exist_ok=True)
        with open("/sys/fs/cgroup/memory%s/memory.usage_in_bytes" % path) as f:
            return int(f.read()) / 1024
    except OSError:
        return None


MEM_LABEL = {"charged_kb_per": "charged to the start loop's memory cgroup", "memavail_kb_per": "MemAvailable drop"}


def mem_key(dens):
    """The density memory figure to compare: charged memory where measured."""
    ok = all(d.get("charged_kb_per", {}).get("n") for d in dens.values())
    return "charged_kb_per" if ok else "memavail_kb_per"


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])  # kB
    return out


# ------------------------------------------------------------------ bundles


def docker_profile_to_oci(path, caps):
    """containers-common's seccomp.json (docker's profile format) -> OCI
    linux.seccomp for x86_64 and the given capability set, as an engine
    (docker, podman) would hand it to the runtime."""
    with open(path) as f:
        p = json.load(f)
    kernel = tuple(int(x) for x in re.findall(r"\d+", platform.release())[:2])
    arch = "amd64"
    syscalls = []
    for r in p["syscalls"]:
        inc, exc = r.get("includes") or {}, r.get("excludes") or {}
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        if inc.get("minKernel"):
            mk = tuple(int(x) for x in re.findall(r"\d+", inc["minKernel"])[:2])
            if kernel < mk:
                continue
        s = {"names": r["names"], "action": r["action"]}
        if r.get("args"):
            s["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op")} for a in r["args"]]
        if r.get("errnoRet") is not None:
            s["errnoRet"] = r["errnoRet"]
        syscalls.append(s)
    archs = []
    for m in p.get("archMap") or []:
        if m["architecture"] == "SCMP_ARCH_X86_64":
            archs = [m["architecture"]] + m.get("subArchitectures", [])
    out = {"defaultAction": p["defaultAction"], "architectures": archs, "syscalls": syscalls}
    if p.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = p["defaultErrnoRet"]
    return out


def make_bundles(tmp, gcc_ok):
    rootfs = os.path.join(tmp, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy2("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for a in ("sh", "true", "sleep", "echo", "cat"):
        os.symlink("busybox", os.path.join(rootfs, "bin", a))
    getpid = os.path.join(rootfs, "bin", "getpidloop")
    if gcc_ok:
        subprocess.run(["gcc", "-O2", "-static", "-o", getpid, os.path.join(HERE, "getpid.c")], check=True)
    base_dir = os.path.join(tmp, "spec")
    os.makedirs(base_dir)
    subprocess.run(["runc", "spec"], cwd=base_dir, check=True)
    with open(os.path.join(base_dir, "config.json")) as f:
        base = json.load(f)
    base["process"]["terminal"] = False
    base["root"] = {"path": rootfs, "readonly": True}
    profile = None
    if os.path.exists(SECCOMP_PROFILE):
        profile = docker_profile_to_oci(SECCOMP_PROFILE, base["process"]["capabilities"]["bounding"])
    bundles = {}

    def mk(name, args, seccomp=False):
        if seccomp and profile is None:
            return
        c = json.loads(json.dumps(base))
        c["process"]["args"] = args
        if seccomp:
            c["linux"]["seccomp"] = profile
        d = os.path.join(tmp, "bundles", name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=1)
        bundles[name] = d

    mk("true", ["/bin/true"])
    mk("true-seccomp", ["/bin/true"], seccomp=True)
    mk("sleep", ["/bin/sleep", "3600"])
    if gcc_ok:
        mk("getpid", ["/bin/getpidloop", "0"])  # args rewritten per run below
    return rootfs, bundles, base, profile


# -------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="moat-bench.")
        self.r = Runner(self.tmp)
        self.results = {"errors": [], "notes": []}
        self.runtimes = []
        self.seq = 0

    def nid(self, rt, tag):
        self.seq += 1
        i = "%s-%s-%s-%d" % (PREFIX, rt.name, tag, self.seq)
        rt.live.add(i)
        return i

    # ---- setup
    def setup(self):
        a = self.a
        moat = os.path.abspath(a.moat)
        if not os.access(moat, os.X_OK):
            raise BenchError("no moat binary at %s" % moat)
        # A private copy: others may rebuild target/release/moat meanwhile.
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        mcopy = os.path.join(bindir, "moat")
        shutil.copy2(moat, mcopy)
        self.moat_src = moat
        # the tree the binary most likely came from: HEAD when the run starts
        self.rev = sh("git -C %s rev-parse --short HEAD" % REPO)
        self.dirty = sh("git -C %s status --porcelain -- crates Cargo.toml Cargo.lock" % REPO)
        need_wrap = os.path.ismount(UNIFIED)
        self.need_wrap = need_wrap
        cands = [("moat", mcopy, False), ("runc", shutil.which("runc"), False), ("crun", shutil.which("crun"), need_wrap)]
        for spec in self.a.also or []:
            name, _, path = spec.partition("=")
            if path and os.access(path, os.X_OK):
                cp = os.path.join(bindir, name)
                shutil.copy2(path, cp)
                cands.append((name, cp, False))
            else:
                self.results["notes"].append("--also %s: not an executable, skipped" % spec)
        y = shutil.which("youki")
        if y:
            cands.append(("youki", y, False))
        else:
            self.results["notes"].append("youki not installed: skipped")
        for name, path, wrapped in cands:
            if not path:
                self.results["errors"].append("%s not found" % name)
                continue
            self.runtimes.append(Runtime(name, path, wrapped, self.tmp))
        self.gcc_ok = shutil.which("gcc") is not None
        self.rootfs, self.bundles, self.spec, self.profile = make_bundles(self.tmp, self.gcc_ok)
        self.busybox = os.path.join(self.rootfs, "bin", "busybox")
        # Warm-up + sanity: each runtime must run the bundle once.
        ok = []
        for rt in self.runtimes:
            i = self.nid(rt, "check")
            ms, rc, _ = self.r.spawn(rt.cmd("run", "--bundle", self.bundles["true"], i))
            if rc != 0:
                self.results["errors"].append("%s cannot run the bundle (exit %d): %s" % (rt.name, rc, self.r.stderr_tail().strip()[-300:]))
                self.force_delete(rt, i)
                continue
            rt.live.discard(i)
            ok.append(rt)
        self.runtimes = ok
        if not any(rt.name == "moat" for rt in ok):
            raise BenchError("moat cannot run the bundle: %s" % self.results["errors"])

    def force_delete(self, rt, i):
        self.r.spawn(rt.cmd("delete", "--force", i))
        rt.live.discard(i)

    def rotate(self, items, k):
        k %= len(items)
        return items[k:] + items[:k]

    # ---- run /bin/true
    def bench_run(self, prog):
        n, w = self.a.samples, self.a.warmup
        # Commands: the harness floor, the crun wrapper alone, each runtime.
        cmds = [("floor: busybox true", None, lambda: [self.busybox, "true"])]
        if self.need_wrap:
            cmds.append(("wrapper alone", None, lambda: ["unshare", "-m", "sh", "-c", WRAP, self.busybox, "true"]))
        for rt in self.runtimes:
            cmds.append((rt.name, rt, (lambda rt=rt: rt.cmd("run", "--bundle", self.bundles["true"], self.nid(rt, "run")))))
        if "true-seccomp" in self.bundles:
            for rt in self.runtimes:
                cmds.append((rt.name + " +seccomp", rt, (lambda rt=rt: rt.cmd("run", "--bundle", self.bundles["true-seccomp"], self.nid(rt, "runsc")))))
        samples = {c[0]: [] for c in cmds}
        rss = {c[0]: [] for c in cmds}
        for it in range(w + n):
            for name, rt, mk in self.rotate(cmds, it):
                argv = mk()
                ms, _, maxrss = self.r.run(argv, "run " + name)
                if rt:
                    rt.live.discard(argv[-1])
                if it >= w:
                    samples[name].append(ms)
                    rss[name].append(maxrss)
                prog.step(label="run /bin/true: " + name)
        out = {k: summary(v) for k, v in samples.items()}
        for k in out:
            out[k]["raw"] = samples[k]
            out[k]["wait4_maxrss_kb_median"] = statistics.median(rss[k])
        self.results["run"] = out

    def wrapper_extra(self):
        """What the crun wrapper adds to one command: wrapper - floor."""
        r = self.results.get("run", {})
        if not self.need_wrap or "wrapper alone" not in r:
            return 0.0
        return r["wrapper alone"]["median"] - r["floor: busybox true"]["median"]

    # ---- create / start / delete
    def container_pid(self, rt, i):
        out = subprocess.run(rt.cmd("state", i), capture_output=True, text=True)
        try:
            return json.loads(out.stdout)["pid"]
        except (ValueError, KeyError):
            raise BenchError("%s state %s: %s %s" % (rt.name, i, out.stdout, out.stderr))

    @staticmethod
    def wait_gone(pid, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()[0]
                if st in ("Z", "X"):
                    return
            except OSError:
                return
            time.sleep(0.0005)
        raise BenchError("container init %d still alive after %.0fs" % (pid, timeout))

    def bench_split(self, prog):
        n, w = self.a.samples, self.a.warmup
        data = {rt.name: {"create": [], "start": [], "delete": []} for rt in self.runtimes}
        for it in range(w + n):
            for rt in self.rotate(self.runtimes, it):
                i = self.nid(rt, "cs")
                t_c, _, _ = self.r.run(rt.cmd("create", "--bundle", self.bundles["true"], i), rt.name + " create")
                pid = self.container_pid(rt, i)
                t_s, _, _ = self.r.run(rt.cmd("start", i), rt.name + " start")
                self.wait_gone(pid)
                t_d, _, _ = self.r.run(rt.cmd("delete", i), rt.name + " delete")
                rt.live.discard(i)
                if it >= w:
                    for k, v in (("create", t_c), ("start", t_s), ("delete", t_d)):
                        data[rt.name][k].append(v)
                prog.step(label="create/start/delete: " + rt.name)
        out = {}
        for name, d in data.items():
            out[name] = {k: summary(v) | {"raw": v} for k, v in d.items()}
        self.results["split"] = out

    # ---- peak RSS with /usr/bin/time -f %M
    def bench_rss(self, prog):
        n, w = self.a.samples, self.a.warmup
        tf = os.path.join(self.tmp, "time.out")
        tbin = shutil.which("time") or "/usr/bin/time"
        cmds = [("floor: busybox true", None, lambda: [tbin, "-f", "%M", "-o", tf, self.busybox, "true"])]
        for rt in self.runtimes:
            cmds.append((rt.name, rt, (lambda rt=rt: rt.argv("-f", "%M", "-o", tf, rt.path, "--root", rt.root, "run", "--bundle", self.bundles["true"], self.nid(rt, "rss"), prog=[tbin]))))
        data = {c[0]: [] for c in cmds}
        for it in range(w + n):
            for name, rt, mk in self.rotate(cmds, it):
                argv = mk()
                self.r.run(argv, "rss " + name)
                if rt:
                    rt.live.discard(argv[-1])
                with open(tf) as f:
                    kb = int(f.read().strip().splitlines()[-1])
                if it >= w:
                    data[name].append(kb)
                prog.step(label="peak RSS: " + name)
        self.results["rss_kb"] = {k: summary(v) | {"raw": v} for k, v in data.items()}

    # ---- 100-container density
    def bench_density(self, prog):
        count, rounds = self.a.containers, self.a.rounds
        loop = 'for id in "$@"; do "$RT" --root "$ROOT" %s "$id" </dev/null >/dev/null 2>"$ERR" || exit 1; done'
        start_loop = loop % 'run -d --bundle "$BUNDLE"'
        del_loop = loop % "delete --force"
        data = {rt.name: {"start_s": [], "delete_s": [], "memavail_kb_per": [], "memfree_kb_per": [],
                          "slab_kb_per": [], "running": [], "cgroup_mem_kb_per": [], "charged_kb_per": []} for rt in self.runtimes}
        extra = self.wrapper_extra() / 1000.0
        for rnd in range(rounds):
            for rt in self.rotate(self.runtimes, rnd):
                ids = [self.nid(rt, "d") for _ in range(count)]
                env = dict(os.environ, RT=rt.path, ROOT=rt.root, BUNDLE=self.bundles["sleep"], ERR=self.r.errpath)
                prog.set("density: %s round %d, settling" % (rt.name, rnd + 1))
                subprocess.run(["sync"])
                time.sleep(self.a.settle)
                m0 = meminfo()
                prog.set("density: %s round %d, starting %d" % (rt.name, rnd + 1, count))
                argv = rt.argv(*ids, prog=["sh", "-c", start_loop, "sh"]) if not rt.wrapped else \
                    ["unshare", "-m", "sh", "-c", "umount %s && %s" % (UNIFIED, start_loop), "sh"] + ids
                # The loop runs in a memory cgroup of its own: what the runtime
                # and its containers get charged for is measured there, not
                # host-wide, so other work on the machine does not blur it.
                cg = "%s-%s-%d" % (MEMCG, rt.name, rnd)
                u0 = memcg_usage_kb(cg)
                if u0 is not None:
                    argv = ["sh", "-c", 'echo $$ > "/sys/fs/cgroup/memory%s/cgroup.procs" && exec "$@"' % cg, "sh"] + argv
                ms, rc, _ = self.r.spawn(argv, env=env)
                if rc != 0:
                    raise BenchError("density start %s failed: %s" % (rt.name, self.r.stderr_tail()))
                time.sleep(self.a.settle)
                m1 = meminfo()
                if u0 is not None:
                    drain_memcg_stocks()
                u1 = memcg_usage_kb(cg)
                running, cg_kb, outside_kb = self.count_running(rt, ids, cg if u0 is not None else None)
                prog.set("density: %s round %d, deleting" % (rt.name, rnd + 1))
                argv = rt.argv(*ids, prog=["sh", "-c", del_loop, "sh"]) if not rt.wrapped else \
                    ["unshare", "-m", "sh", "-c", "umount %s && %s" % (UNIFIED, del_loop), "sh"] + ids
                msd, rc, _ = self.r.spawn(argv, env=env)
                if rc != 0:
                    raise BenchError("density delete %s failed: %s" % (rt.name, self.r.stderr_tail()))
                for i in ids:
                    rt.live.discard(i)
                d = data[rt.name]
                d["start_s"].append(ms / 1000.0 - (extra if rt.wrapped else 0.0))
                d["delete_s"].append(msd / 1000.0 - (extra if rt.wrapped else 0.0))
                d["memavail_kb_per"].append((m0["MemAvailable"] - m1["MemAvailable"]) / count)
                d["memfree_kb_per"].append((m0["MemFree"] - m1["MemFree"]) / count)
                d["slab_kb_per"].append((m1["Slab"] - m0["Slab"]) / count)
                d["running"].append(running)
                if cg_kb is not None:
                    d["cgroup_mem_kb_per"].append(cg_kb)
                if u0 is not None and u1 is not None:
                    d["charged_kb_per"].append((u1 - u0 + outside_kb) / count)
                prog.step(DENSITY_W, label="density: " + rt.name)
                try:
                    os.rmdir("/sys/fs/cgroup/memory" + cg)
                except OSError:
                    pass
        out = {}
        for name, d in data.items():
            out[name] = {k: summary(v) | {"raw": v} for k, v in d.items()}
        self.results["density"] = {"containers": count, "rounds": rounds, "by_runtime": out}

    def count_running(self, rt, ids, cg=None):
        # Count host processes that are one of our containers' sleep 3600.
        want = set()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if f.read() == b"/bin/sleep\x003600\x00":
                        want.add(pid)
            except OSError:
                pass
        # Mean memory.usage_in_bytes of their v1 memory cgroups (user + kernel
        # memory charged to the container: its processes, and the mounts and
        # namespaces its init made once it was in the cgroup).
        usage = []
        outside = 0.0  # KiB in container memory cgroups outside `cg` (not yet counted there)
        for pid in want:
            try:
                with open("/proc/%s/cgroup" % pid) as f:
                    for line in f:
                        _, ctl, path = line.rstrip("\n").split(":", 2)
                        if "memory" in ctl.split(","):
                            with open("/sys/fs/cgroup/memory%s/memory.usage_in_bytes" % path) as g:
                                kb = int(g.read()) / 1024
                            usage.append(kb)
                            if not (cg and (path + "/").startswith(cg + "/")):
                                outside += kb
            except (OSError, ValueError):
                pass
        return len(want), (statistics.mean(usage) if usage else None), outside

    # ---- syscall overhead
    def bench_syscall(self, prog):
        if not self.gcc_ok:
            self.results["errors"].append("gcc missing: syscall overhead skipped")
            return
        n, iters = self.a.syscall_samples, self.a.syscall_iters
        variants = [("host (no container)", None, None)]
        for rt in self.runtimes:
            variants.append((rt.name, rt, False))
        if self.profile is not None:
            for rt in self.runtimes:
                variants.append((rt.name + " +seccomp", rt, True))
        # Two bundles whose args carry the loop count.
        bdirs = {}
        for sc in (False, True):
            if sc and self.profile is None:
                continue
            c = json.loads(json.dumps(self.spec))
            c["process"]["args"] = ["/bin/getpidloop", str(iters), "both"]
            if sc:
                c["linux"]["seccomp"] = self.profile
            d = os.path.join(self.tmp, "bundles", "getpid" + ("-seccomp" if sc else ""))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(c, f, indent=1)
            bdirs[sc] = d
        outp = os.path.join(self.tmp, "getpid.out")
        data = {v[0]: [] for v in variants}
        fdata = {v[0]: [] for v in variants}
        for it in range(n + 1):  # one warm-up round
            for name, rt, sc in self.rotate(variants, it):
                if rt is None:
                    argv = [os.path.join(self.rootfs, "bin", "getpidloop"), str(iters), "both"]
                else:
                    argv = rt.cmd("run", "--bundle", bdirs[sc], self.nid(rt, "gp"))
                self.r.run(argv, "getpid " + name, stdout_path=outp)
                if rt:
                    rt.live.discard(argv[-1])
                with open(outp) as f:
                    lines = f.read().strip().splitlines()
                if it >= 1:
                    data[name].append(float(lines[-2]))
                    fdata[name].append(float(lines[-1]))
                prog.step(label="getpid loop: " + name)
        self.results["syscall_ns"] = {"iterations": iters} | {k: summary(v) | {"raw": v} for k, v in data.items()}
        self.results["fileio_ns"] = {"iterations": max(iters // 10, 1)} | {k: summary(v) | {"raw": v} for k, v in fdata.items()}

    # ---- what each runtime's default security is, seen from inside
    def security_facts(self):
        c = json.loads(json.dumps(self.spec))
        c["process"]["args"] = ["/bin/cat", "/proc/self/status"]
        d = os.path.join(self.tmp, "bundles", "status")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=1)
        outp = os.path.join(self.tmp, "status.out")
        facts = {}
        for rt in self.runtimes:
            i = self.nid(rt, "st")
            _, rc, _ = self.r.spawn(rt.cmd("run", "--bundle", d, i), stdout_path=outp)
            rt.live.discard(i)
            f_ = {}
            if rc == 0:
                for line in open(outp):
                    k, _, v = line.partition(":")
                    if k in ("Seccomp", "Seccomp_filters", "NoNewPrivs", "CapEff", "CapBnd"):
                        f_[k] = v.strip()
            facts[rt.name] = f_
        self.results["security"] = facts

    # ---- a non-interleaved cross-check of `run` with hyperfine
    def bench_hyperfine(self, prog):
        hf = shutil.which("hyperfine")
        if not hf or self.a.quick:
            return
        cmds, names = [], []
        for rt in self.runtimes:
            argv = rt.cmd("run", "--bundle", self.bundles["true"], "%s-%s-hf" % (PREFIX, rt.name))
            rt.live.add(argv[-1])
            cmds.append(" ".join("'%s'" % x if (" " in x or "$" in x) else x for x in argv))
            names.append(rt.name)
        if self.need_wrap:
            cmds.append("unshare -m sh -c '%s' %s true" % (WRAP, self.busybox))
            names.append("wrapper alone")
        cmds.append("%s true" % self.busybox)
        names.append("floor: busybox true")
        jf = os.path.join(self.tmp, "hf.json")
        prog.set("hyperfine cross-check")
        r = subprocess.run([hf, "-N", "--warmup", str(self.a.warmup), "--runs", str(self.a.samples), "--export-json", jf, "--style", "none"] + cmds,
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.results["errors"].append("hyperfine: " + r.stderr[-300:])
            return
        with open(jf) as f:
            res = json.load(f)["results"]
        self.results["hyperfine"] = {n: {"median": x["median"] * 1000, "mean": x["mean"] * 1000, "stddev": (x.get("stddev") or 0) * 1000}
                                     for n, x in zip(names, res)}
        prog.step(label="hyperfine cross-check")

    # ---- binary sizes
    def sizes(self):
        out = {}
        for rt in self.runtimes:
            path = self.moat_src if rt.name == "moat" else dict(x.partition("=")[::2] for x in self.a.also or []).get(rt.name, rt.path)
            real = os.path.realpath(path)
            size = os.path.getsize(real)
            libs = {}
            ldd = subprocess.run(["ldd", real], capture_output=True, text=True).stdout
            for line in ldd.splitlines():
                m = re.match(r"\s*(\S+) => (\S+)", line)
                if m and not re.match(r"(libc|libm|libdl|libpthread|librt|ld-linux)[.-]", m.group(1)):
                    libs[m.group(1)] = os.path.getsize(os.path.realpath(m.group(2)))
            sect = subprocess.run(["readelf", "-S", "-W", real], capture_output=True, text=True).stdout
            out[rt.name] = {"path": real, "bytes": size, "libs": libs,
                            "bytes_with_libs": size + sum(libs.values()),
                            "stripped": ".symtab" not in sect if sect else None}
        self.results["size"] = out

    # ---- strace profile of moat run /bin/true
    def profile_moat(self, prog):
        if not shutil.which("strace"):
            self.results["errors"].append("strace missing: profile skipped")
            return
        rt = next(r for r in self.runtimes if r.name == "moat")
        runs = []
        for k in range(self.a.profile_runs):
            i = self.nid(rt, "st")
            tr = os.path.join(self.tmp, "strace.%d" % k)
            self.r.run(["strace", "-f", "-tt", "-T", "-y", "-o", tr] + rt.cmd("run", "--bundle", self.bundles["true"], i), "strace moat")
            rt.live.discard(i)
            runs.append(parse_strace(tr))
            if k == 0:
                shutil.copy(tr, os.path.join(self.a.out, "strace-moat-run.txt"))
            prog.step(label="strace: moat run")
        i = self.nid(rt, "sc")
        cf = os.path.join(self.tmp, "strace.c")
        self.r.run(["strace", "-f", "-c", "-o", cf] + rt.cmd("run", "--bundle", self.bundles["true"], i), "strace -c moat")
        rt.live.discard(i)
        with open(cf) as f:
            ctext = f.read()
        mt = re.search(r"100\.00\s+\S+\s+\S+\s+(\d+)", ctext)
        prog.step(label="strace -c: moat run")
        keys = ["wall_ms", "parent_setup_ms", "child_setup_ms", "run_and_teardown_ms", "cgroup_procs_total_ms",
                "cgroup_procs_first_ms", "cgroup_procs_other_ms", "child_blocked_on_parent_ms"]
        agg = {k: summary([r[k] for r in runs if r.get(k) is not None]) for k in keys}
        # Longest single syscalls, median over runs by name+target.
        longest = {}
        for r in runs:
            for name, dur in r["top"]:
                longest.setdefault(name, []).append(dur)
        top = sorted(((statistics.median(v), len(v), k) for k, v in longest.items()), reverse=True)[:12]
        self.results["profile"] = {"runs": len(runs), "phases": agg, "top_syscalls": top, "strace_c": ctext, "syscalls_total": int(mt.group(1)) if mt else 0,
                                   "per_run": runs}

    # ---- cleanup
    def cleanup(self):
        for rt in self.runtimes:
            ids = set(rt.live)
            try:
                ids |= {d for d in os.listdir(rt.root) if d.startswith(PREFIX)}
            except OSError:
                pass
            for i in sorted(ids):
                subprocess.run(rt.cmd("delete", "--force", i), capture_output=True)
        # cgroup dirs a killed create may leave (runc 1.1 and crun 1.8 leak them)
        for top in ("/sys/fs/cgroup",):
            for dirpath, dirnames, _ in os.walk(top, topdown=False):
                if dirpath.count("/") > 7:
                    continue
                for d in dirnames:
                    if d.startswith(PREFIX):
                        try:
                            os.rmdir(os.path.join(dirpath, d))
                        except OSError:
                            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse_strace(path):
    """Phases of one `strace -f -tt -T -y` of `moat run`: where time goes."""
    line_re = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")
    pending = {}
    calls = []  # (pid, start, end, name, text)
    first = last = None
    for line in open(path, errors="replace"):
        m = line_re.match(line)
        if not m:
            continue
        pid = int(m.group(1))
        ts = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        rest = m.group(5)
        first = ts if first is None else first
        last = ts
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, rest)
            continue
        rm = re.match(r"<\.\.\. (\w+) resumed>", rest)
        if rm and pid in pending:
            st, text = pending.pop(pid)
            rest = text + rest
        else:
            st = ts
        dm = re.search(r"<(\d+\.\d+)>$", rest)
        dur = float(dm.group(1)) if dm else 0.0
        nm = re.match(r"(\w+)\(", rest)
        if nm:
            calls.append((pid, st, st + dur if not rm else ts, nm.group(1), rest))
    if not calls:
        return {}
    parent = calls[0][0]
    clone = next((c for c in calls if c[0] == parent and c[3] in ("clone3", "clone")), None)
    child_exec = next((c for c in calls if c[0] != parent and c[3] == "execve"), None)
    procs = [c for c in calls if c[3] == "write" and "cgroup.procs>" in c[4]]
    cg = [(c[2] - c[1]) * 1000 for c in procs]
    blocked = [(c[2] - c[1]) * 1000 for c in calls if c[0] != parent and c[3] in ("recvmsg", "read")
               and clone and child_exec and c[1] < child_exec[1]]
    top = []
    for c in calls:
        d = (c[2] - c[1]) * 1000
        tgt = re.search(r"<([^<>]+)>", c[4])
        tag = c[3]
        if c[3] == "write" and "cgroup.procs" in c[4]:
            tag = "write cgroup.procs" + (" (first)" if procs and c is procs[0] else "")
        elif tgt and c[3] in ("write", "openat", "mkdir", "read") and "/sys/fs/cgroup" in tgt.group(1):
            tag = c[3] + " cgroupfs"
        elif c[3] == "wait4" or (c[3] in ("read", "epoll_wait", "poll", "recvmsg") and c[0] == parent):
            tag = c[3] + " (parent waits)"
        elif c[0] != parent and c[3] in ("recvmsg", "read"):
            tag = c[3] + " (init waits)"
        top.append((tag, d))
    agg = {}
    for tag, d in top:
        agg[tag] = max(agg.get(tag, 0.0), d)
    return {
        "wall_ms": (last - first) * 1000,
        "parent_setup_ms": (clone[1] - first) * 1000 if clone else None,
        "child_setup_ms": (child_exec[1] - clone[2]) * 1000 if clone and child_exec else None,
        "run_and_teardown_ms": (last - child_exec[1]) * 1000 if child_exec else None,
        "cgroup_procs_total_ms": sum(cg) if cg else None,
        "cgroup_procs_first_ms": cg[0] if cg else None,
        "cgroup_procs_other_ms": sum(cg[1:]) if cg else None,
        "child_blocked_on_parent_ms": max(blocked) if blocked else None,
        "top": sorted(agg.items(), key=lambda x: -x[1])[:15],
    }


# ------------------------------------------------------------------- report


def machine_facts(bench):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = meminfo()["MemTotal"]
    osr = ""
    if os.path.exists("/etc/os-release"):
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osr = line.split("=", 1)[1].strip().strip('"')
    cg = "cgroup v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else (
        "hybrid (v1 controllers + cgroup2 at %s)" % UNIFIED if os.path.ismount(UNIFIED) else "cgroup v1")
    vers = {}
    for rt in bench.runtimes:
        out = subprocess.run([rt.path, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
        vers[rt.name] = out[0] if out else "?"
    rev, dirty = bench.rev, bench.dirty
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / 1048576, 1),
        "os": osr, "cgroups": cg, "versions": vers,
        "moat_commit": rev + (" (+ uncommitted changes in crates/)" if dirty else ""),
        "moat_binary_mtime": datetime.datetime.fromtimestamp(os.path.getmtime(bench.moat_src)).strftime("%Y-%m-%d %H:%M"),
        "busybox": sh("busybox 2>&1 | head -1"),
        "python": platform.python_version(),
    }


def f1(x):
    return "%.1f" % x


def f2(x):
    return "%.2f" % x


def ratio(a, b):
    return "%.2f×" % (a / b) if b else "–"


def write_report(bench, out):
    R = bench.results
    a = bench.a
    mf = R["machine"]
    L = []
    L.append("# moat benchmark results\n")
    L.append("Produced by `bash bench/run.sh%s` on %s. Method: [docs/perf.md](../docs/perf.md). Raw data: `results.json`; plot: `results.png`.\n"
             % (" --quick" if a.quick else "", mf["date"]))
    if a.quick:
        L.append("**Smoke run (--quick): %d samples, %d containers — numbers are not meaningful.**\n" % (a.samples, a.containers))
    L.append("## Machine\n")
    L.append("| fact | value |\n|---|---|")
    for k in ("date", "os", "kernel", "cpu", "cores", "mem_gib", "cgroups", "moat_commit", "moat_binary_mtime", "busybox", "python"):
        L.append("| %s | %s |" % (k, mf[k]))
    for k, v in mf["versions"].items():
        L.append("| %s | %s |" % (k, v))
    L.append("")
    L.append("Samples: %d per cell after %d warm-up rounds, interleaved (rotating order). Density: %d containers × %d rounds. "
             "Spread = 25th–75th percentile." % (a.samples, a.warmup, a.containers, a.rounds))
    if bench.need_wrap:
        L.append("crun 1.8 refuses this hybrid host, so it runs as `unshare -m sh -c 'umount %s && exec crun …'`; "
                 "**crun (net)** = crun (wrapped) − (wrapper alone − floor), i.e. minus the wrapper's extra cost over a plain spawn." % UNIFIED)
    L.append("")
    for e in R["errors"]:
        L.append("- error: %s" % e)
    for n in R["notes"]:
        L.append("- note: %s" % n)
    L.append("")
    extra = bench.wrapper_extra()

    def net(name, v):
        return v - extra if name.startswith("crun") and bench.need_wrap else v

    run = R.get("run", {})
    base = {}
    for k in ("crun", "runc"):
        if k in run:
            base[k] = net(k, run[k]["median"])
    # Targets
    L.append("## Targets\n")
    L.append("| target | moat | crun | ratio | met |\n|---|---|---|---|---|")
    tg = []
    if "moat" in run and "crun" in base:
        r_ = run["moat"]["median"] / base["crun"]
        tg.append(("`run /bin/true` median ≤ 0.8× crun (net)", f2(run["moat"]["median"]) + " ms", f2(base["crun"]) + " ms", "%.2f×" % r_, r_ <= 0.8))
    rss = R.get("rss_kb", {})
    if "moat" in rss and "crun" in rss:
        m, c = rss["moat"]["median"], rss["crun"]["median"]
        tg.append(("peak RSS ≤ crun", "%d KiB" % m, "%d KiB" % c, "%.2f×" % (m / c), m <= c))
    dens = R.get("density", {}).get("by_runtime", {})
    if "moat" in dens and "crun" in dens:
        m, c = dens["moat"]["start_s"]["median"], dens["crun"]["start_s"]["median"]
        key = mem_key(dens)
        mm, cm = dens["moat"][key]["median"], dens["crun"][key]["median"]
        tg.append(("%d-container start ≤ 0.8× crun" % R["density"]["containers"], "%.2f s" % m, "%.2f s" % c, "%.2f×" % (m / c), m <= 0.8 * c))
        tg.append(("… at no more memory per container (%s)" % MEM_LABEL[key], "%d KiB" % mm, "%d KiB" % cm, "%.2f×" % (mm / cm) if cm > 0 else "–", mm <= cm))
    for t in tg:
        L.append("| %s | %s | %s | %s | %s |" % (t[0], t[1], t[2], t[3], "yes" if t[4] else "**no**"))
    L.append("\n(Memory per container: met only if moat's median is no higher than crun's; round-to-round noise at this scale is a few %.)\n" if dens else "")

    L.append("## `run /bin/true` (run + automatic delete), wall ms spawn-to-reap\n")
    L.append("| command | median | p25–p75 | min | × crun (net) | × runc |\n|---|---|---|---|---|---|")
    for name, s in run.items():
        v = net(name, s["median"])
        label = name + (" (net)" if name.startswith("crun") and bench.need_wrap else "")
        L.append("| %s | %s | %s–%s | %s | %s | %s |" % (label, f2(v), f2(net(name, s["p25"])), f2(net(name, s["p75"])), f2(net(name, s["min"])),
                                                      ratio(v, base.get("crun", 0)) if not name.endswith("seccomp") else ratio(v, net("crun", run.get("crun +seccomp", {"median": 0})["median"])),
                                                      ratio(v, base.get("runc", 0)) if not name.endswith("seccomp") else ratio(v, run.get("runc +seccomp", {"median": 0})["median"])))
        if name.startswith("crun") and bench.need_wrap:
            L.append("| %s (wrapped, raw) | %s | %s–%s | %s | | |" % (name, f2(s["median"]), f2(s["p25"]), f2(s["p75"]), f2(s["min"])))
    L.append("\n`+seccomp` rows: the same bundle with containers-common's default profile (docker's) converted to OCI for runc spec's capabilities; "
             "their ratios are to the same row of crun/runc. `floor` is the harness spawning a static busybox `true`; "
             "`wrapper alone` is crun's wrapper exec'ing it. Wrapper extra = %.2f ms.\n" % extra)

    sp = R.get("split", {})
    if sp:
        L.append("## create / start / delete, wall ms (medians; crun net of the wrapper on each command)\n")
        L.append("| runtime | create | start | delete | sum | × crun | × runc |\n|---|---|---|---|---|---|---|")
        sums = {}
        for name, d in sp.items():
            sums[name] = sum(net(name, d[k]["median"]) for k in ("create", "start", "delete"))
        for name, d in sp.items():
            L.append("| %s | %s (%s–%s) | %s (%s–%s) | %s (%s–%s) | %s | %s | %s |" % tuple(
                [name] + sum([[f2(net(name, d[k]["median"])), f2(net(name, d[k]["p25"])), f2(net(name, d[k]["p75"]))] for k in ("create", "start", "delete")], [])
                + [f2(sums[name]), ratio(sums[name], sums.get("crun", 0)), ratio(sums[name], sums.get("runc", 0))]))
        L.append("")
    if rss:
        L.append("## Peak RSS (`/usr/bin/time -f %M` around `run /bin/true`), KiB\n")
        L.append("| runtime | median | p25–p75 | × crun | × runc |\n|---|---|---|---|---|")
        for name, s in rss.items():
            L.append("| %s | %d | %d–%d | %s | %s |" % (name, s["median"], s["p25"], s["p75"], ratio(s["median"], rss.get("crun", {}).get("median", 0)), ratio(s["median"], rss.get("runc", {}).get("median", 0))))
        L.append("\n%M is the largest peak RSS of any one process `time` waited for, the runtime itself or a descendant it reaped "
                 "(rusage of a child folds in its reaped children's maximum, not their sum). moat: the moat process and its cloned init "
                 "(a copy-on-write copy of moat until it execs busybox). runc: the Go `runc run` process and `runc init` (a re-exec of the runc binary, "
                 "which becomes the container). crun: the crun process and its cloned init; the wrapper's `unshare`/`sh` are not counted "
                 "(`time` runs inside the wrapper).\n")
    sz = R.get("size", {})
    if sz:
        L.append("## Binary size\n")
        L.append("| runtime | binary | stripped | non-glibc shared libs | binary + libs | × crun | × runc |\n|---|---|---|---|---|---|---|")
        for name, s in sz.items():
            libs = ", ".join(sorted(s["libs"])) or "–"
            L.append("| %s | %.2f MiB | %s | %s | %.2f MiB | %s | %s |" % (name, s["bytes"] / 1048576, {True: "yes", False: "no", None: "?"}[s["stripped"]], libs,
                                                                   s["bytes_with_libs"] / 1048576, ratio(s["bytes"], sz.get("crun", {}).get("bytes", 0)), ratio(s["bytes"], sz.get("runc", {}).get("bytes", 0))))
        L.append("")
    if dens:
        L.append("## Density: %d detached `sleep 3600` containers\n" % R["density"]["containers"])
        L.append("| runtime | start all, s | p25–p75 | per container, ms | delete all, s | charged per container, KiB | MemAvailable drop per container, KiB | MemFree drop, KiB | Slab growth, KiB | container memory cgroup, KiB | running |\n|---|---|---|---|---|---|---|---|---|---|---|")
        for name, d in dens.items():
            cgm = d.get("cgroup_mem_kb_per", {})
            ch = d.get("charged_kb_per", {})
            L.append("| %s | %.2f | %.2f–%.2f | %.1f | %.2f | %s | %.0f (%.0f–%.0f) | %.0f | %.0f | %s | %d |" % (
                name, d["start_s"]["median"], d["start_s"]["p25"], d["start_s"]["p75"], d["start_s"]["median"] * 1000 / R["density"]["containers"],
                d["delete_s"]["median"], "%.0f (%.0f–%.0f)" % (ch["median"], ch["p25"], ch["p75"]) if ch.get("n") else "–",
                d["memavail_kb_per"]["median"], d["memavail_kb_per"]["p25"], d["memavail_kb_per"]["p75"],
                d["memfree_kb_per"]["median"], d["slab_kb_per"]["median"], "%.0f" % cgm["median"] if cgm.get("n") else "–", d["running"]["min"]))
        L.append("\nStarted one after another by one `sh` loop (`run -d`); crun's loop runs inside ONE wrapper namespace, its wrapper extra subtracted once. "
                 "**Charged per container**: the start loop runs in a v1 memory cgroup of its own, a new one each round; what that cgroup was charged during the start "
                 "(the runtime's processes and every accounted kernel object they made: cgroups, namespaces, mounts, seccomp programs, state files) "
                 "plus the containers' own memory cgroups where a runtime puts them outside it (crun does, runc and moat nest them), divided by the "
                 "count. Other work on the machine does not enter it, so it is the figure the target uses. "
                 "Memory: /proc/meminfo before and after (each after `sync` and %.1f s of settling) divided by the count; `running` = `sleep 3600` "
                 "processes found on the host (minimum over rounds); "
                 "`container memory cgroup` = mean memory.usage_in_bytes of the containers' own v1 memory cgroups (what is charged to the container: "
                 "its process and the kernel objects its init made inside the cgroup; not the runtime's own host-side objects). "
                 "MemAvailable is host-wide and moves with whatever else runs, hence rounds and medians.\n" % a.settle)
    sec = R.get("security", {})
    if sec:
        L.append("## Default security, seen from inside the container (/proc/self/status, same bundle, no seccomp in config.json)\n")
        L.append("| runtime | Seccomp | filters | NoNewPrivs | CapEff |\n|---|---|---|---|---|")
        for name, f_ in sec.items():
            L.append("| %s | %s | %s | %s | %s |" % (name, f_.get("Seccomp", "?"), f_.get("Seccomp_filters", "?"), f_.get("NoNewPrivs", "?"), f_.get("CapEff", "?")))
        L.append("\nSeccomp 2 = a filter is loaded. This is what the plain rows of the getpid table run under.\n")
    hfr = R.get("hyperfine")
    if hfr:
        L.append("## Cross-check: `run /bin/true` with hyperfine (not interleaved: all runs of one command, then the next), ms\n")
        L.append("| command | median | mean ± sd |\n|---|---|---|")
        for name, x in hfr.items():
            L.append("| %s | %.2f | %.2f ± %.2f |" % (name, x["median"], x["mean"], x["stddev"]))
        L.append("")
    scn = R.get("syscall_ns")
    if scn:
        L.append("## Syscall overhead: getpid loop (%d raw `syscall(SYS_getpid)`), ns per call\n" % scn["iterations"])
        L.append("| where | median | p25–p75 | vs host |\n|---|---|---|---|")
        h = scn.get("host (no container)", {}).get("median", 0)
        for name, s in scn.items():
            if name == "iterations":
                continue
            L.append("| %s | %.1f | %.1f–%.1f | %+.1f |" % (name, s["median"], s["p25"], s["p75"], s["median"] - h))
        fio = R.get("fileio_ns")
        if fio:
            L.append("\n## Syscall overhead on a file-serving loop: open + pread 4 KiB + close of /bin/busybox (%d times), ns per iteration\n" % fio["iterations"])
            base_name = "crun" if "crun" in fio else "host (no container)"
            L.append("| where | median | p25–p75 | vs %s |\n|---|---|---|---|" % base_name)
            hf_ = fio.get(base_name, {}).get("median", 0)
            for name, s_ in fio.items():
                if name == "iterations":
                    continue
                L.append("| %s | %.1f | %.1f–%.1f | %+.1f%% |" % (name, s_["median"], s_["p25"], s_["p75"], (s_["median"] / hf_ - 1) * 100 if hf_ else 0))
            L.append("\nThe same binary and run as the getpid rows. The baseline is crun's plain row: a container with no seccomp filter "
                     "(on the host, `/bin/busybox` resolves through the /bin → usr/bin symlink, a longer path walk, so the host row is no baseline "
                     "here). A filter's cost is per syscall (~35–50 ns on this kernel, whatever the syscall), so its share shrinks as the syscalls "
                     "do real work: this loop is the realistic case, getpid the worst one.\n")
        filt = [n for n, f_ in R.get("security", {}).items() if f_.get("Seccomp") == "2"]
        L.append("\nPlain rows: each runtime's default security for this bundle (runc spec's config, no seccomp profile); "
                 "%s. `+seccomp` rows: the containers-common default profile in config.json, compiled by each runtime its own way.\n"
                 % ("of these, %s load%s a filter of %s own anyway (see the table above)" % (", ".join(filt), "s" if len(filt) == 1 else "", "its" if len(filt) == 1 else "their")
                    if filt else "no runtime loads a filter then"))
    pr = R.get("profile")
    if pr:
        ph = pr["phases"]
        L.append("## Where moat's `run /bin/true` time goes (strace, %d runs)\n" % pr["runs"])
        L.append("`strace -f -tt -T -y` slows every syscall, so absolute times are inflated; the blocking times (cgroup writes, waits) are kernel time and much less affected.\n")
        L.append("| phase | median ms | p25–p75 |\n|---|---|---|")
        names = {"wall_ms": "whole run (first to last syscall, traced)", "parent_setup_ms": "moat start → clone3 (parse, state, cgroup mkdir/limits, fifo)",
                 "child_setup_ms": "clone3 → init execs /bin/true (namespaces, mounts, pivot_root, caps)",
                 "run_and_teardown_ms": "exec → moat exits (true runs, reap, cgroup rmdir, state removal)",
                 "cgroup_procs_total_ms": "all writes to cgroup.procs", "cgroup_procs_first_ms": "… the first one",
                 "cgroup_procs_other_ms": "… all the others", "child_blocked_on_parent_ms": "init blocked waiting for the parent's Go (longest wait)"}
        for k, s in ph.items():
            if s["n"]:
                L.append("| %s | %.2f | %.2f–%.2f |" % (names.get(k, k), s["median"], s["p25"], s["p75"]))
        mrun = run.get("moat", {}).get("median")
        if ph["cgroup_procs_first_ms"]["n"] and mrun:
            L.append("\n**Reading.** The first `cgroup.procs` write (the cgroup v1 migration, which waits for an RCU grace period) "
                     "blocks moat's parent for %.1f ms (median; p25–p75 %.1f–%.1f), every other `cgroup.procs` write together %.2f ms. "
                     "moat's init does its namespace and mount work meanwhile (it overlaps the migration), but it still ends up blocked "
                     "%.1f ms (median) waiting for the parent's Go, i.e. the part of the RCU wait the overlap does not hide. "
                     "Untraced, a whole `moat run /bin/true` takes %.1f ms (floor %.1f ms), so the RCU wait is the largest single item "
                     "on the critical path; the rest is spread over ~%d syscalls (strace -c below)."
                     % (ph["cgroup_procs_first_ms"]["median"], ph["cgroup_procs_first_ms"]["p25"], ph["cgroup_procs_first_ms"]["p75"],
                        ph["cgroup_procs_other_ms"]["median"], ph["child_blocked_on_parent_ms"]["median"] if ph["child_blocked_on_parent_ms"]["n"] else float("nan"),
                        mrun, run.get("floor: busybox true", {}).get("median", float("nan")), pr.get("syscalls_total", 0)))
        L.append("\nLongest single syscalls (median over the runs where the syscall appears):\n")
        L.append("| syscall | median ms | runs |\n|---|---|---|")
        for med, cnt, name in pr["top_syscalls"]:
            L.append("| %s | %.3f | %d |" % (name, med, cnt))
        L.append("\n`strace -f -c` of one run (syscall counts; time column is CPU time in syscalls, not waiting):\n")
        L.append("```\n" + "\n".join(pr["strace_c"].strip().splitlines()[:25]) + "\n```\n")
        L.append("One full trace is in `strace-moat-run.txt`.\n")
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def plot(bench, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        bench.results["notes"].append("matplotlib not importable: no plot")
        return False
    R = bench.results
    extra = bench.wrapper_extra()
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle("moat vs runc / crun — %s, %s (medians, bars = p25–p75; crun net of its wrapper)" % (R["machine"]["date"], R["machine"]["kernel"]))
    colors = {"moat": "#1f77b4", "runc": "#ff7f0e", "crun": "#2ca02c", "youki": "#9467bd"}

    def col(name):
        return colors.get(name.split()[0], "#999999")

    def bars(a, items, title, unit):
        names = [i[0] for i in items]
        med = [i[1] for i in items]
        lo = [max(i[1] - i[2], 0) for i in items]
        hi = [max(i[3] - i[1], 0) for i in items]
        a.barh(names, med, xerr=[lo, hi], color=[col(n) for n in names], capsize=3)
        a.set_title(title)
        a.set_xlabel(unit)
        a.invert_yaxis()
        for y, v in enumerate(med):
            a.text(v, y, " %.3g" % v, va="center", fontsize=8)

    def sub(name, v):
        return v - extra if name.startswith("crun") and bench.need_wrap else v

    run = R.get("run", {})
    bars(ax[0][0], [(k, sub(k, s["median"]), sub(k, s["p25"]), sub(k, s["p75"])) for k, s in run.items() if not k.startswith("wrapper")],
         "run /bin/true", "ms")
    sp = R.get("split", {})
    a = ax[0][1]
    left = [0.0] * len(sp)
    names = list(sp)
    for k, c in (("create", "#4c72b0"), ("start", "#dd8452"), ("delete", "#55a868")):
        vals = [sub(n, sp[n][k]["median"]) for n in names]
        a.barh(names, vals, left=left, label=k, color=c)
        left = [l_ + v for l_, v in zip(left, vals)]
    a.set_title("create / start / delete")
    a.set_xlabel("ms")
    a.legend()
    a.invert_yaxis()
    rss = R.get("rss_kb", {})
    bars(ax[0][2], [(k, s["median"] / 1024, s["p25"] / 1024, s["p75"] / 1024) for k, s in rss.items()], "peak RSS (/usr/bin/time %M)", "MiB")
    dens = R.get("density", {}).get("by_runtime", {})
    n = R.get("density", {}).get("containers", 0)
    bars(ax[1][0], [(k, d["start_s"]["median"], d["start_s"]["p25"], d["start_s"]["p75"]) for k, d in dens.items()],
         "start %d detached containers" % n, "s")
    key = mem_key(dens) if dens else "memavail_kb_per"
    bars(ax[1][1], [(k, d[key]["median"], d[key]["p25"], d[key]["p75"]) for k, d in dens.items()],
         "memory per container (%s)" % MEM_LABEL[key], "KiB")
    scn = R.get("syscall_ns", {})
    bars(ax[1][2], [(k, s["median"], s["p25"], s["p75"]) for k, s in scn.items() if k != "iterations"], "getpid syscall", "ns/call")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "results.png"), dpi=90)
    return True


def print_medians(results, path=""):
    """Every median in `results` (nested dicts), one line each."""
    for k, v in results.items():
        if isinstance(v, dict):
            if "median" in v:
                print("%s%s: median %.4g (p25 %.4g, p75 %.4g)" % (path, k, v["median"], v.get("p25", 0), v.get("p75", 0)))
            else:
                print_medians(v, path + k + ".")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--moat", default=os.path.join(REPO, "target", "release", "moat"))
    ap.add_argument("--out", help="where RESULTS.md, results.json, results.png go (default: bench/, or a tmp dir with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke mode: 3 samples, 5 containers")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--also", action="append", metavar="NAME=PATH", help="another moat build to measure as its own row")
    ap.add_argument("--containers", type=int)
    ap.add_argument("--only", help="comma-separated subset of run,split,rss,syscall,hyperfine,density: "
                    "runs just those, prints their medians and writes results.json (no RESULTS.md) to --out or a tmp dir")
    args = ap.parse_args()
    if args.quick:
        d = dict(samples=3, warmup=1, containers=5, rounds=1, settle=0.2, syscall_samples=2, syscall_iters=100000, profile_runs=1)
    else:
        d = dict(samples=40, warmup=3, containers=100, rounds=5, settle=1.5, syscall_samples=10, syscall_iters=2000000, profile_runs=15)
    for k, v in d.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    only = set(args.only.split(",")) if args.only else None
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="moat-bench-quick.") if args.quick or only else HERE
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    os.makedirs(args.out, exist_ok=True)
    b = Bench(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    rc = 0
    prog = None
    try:
        b.setup()
        nrt = len(b.runtimes)
        per = args.warmup + args.samples
        total = per * (2 + 2 * nrt) + per * nrt + per * (1 + nrt) + args.rounds * nrt * DENSITY_W \
            + (args.syscall_samples + 1) * (1 + 2 * nrt) + args.profile_runs + 1 + (0 if args.quick else 1)
        prog = Progress(total)
        if only:
            for name in ["run", "split", "rss", "syscall", "hyperfine", "density"]:
                if name in only:
                    getattr(b, "bench_" + name)(prog)
            prog.finish()
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump(b.results, f, indent=1)
            print_medians(b.results)
            print("bench: wrote %s/results.json" % args.out)
            return
        b.bench_run(prog)
        b.bench_split(prog)
        b.bench_rss(prog)
        b.bench_syscall(prog)
        b.sizes()
        b.security_facts()
        b.bench_hyperfine(prog)
        b.bench_density(prog)
        b.profile_moat(prog)
        prog.finish()
        b.results["machine"] = machine_facts(b)
        b.results["config"] = {k: getattr(args, k) for k in d} | {"quick": args.quick}
        plotted = plot(b, args.out)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(b.results, f, indent=1)
        write_report(b, args.out)
        print("bench: wrote %s/RESULTS.md, results.json%s" % (args.out, ", results.png" if plotted else ""))
    except KeyboardInterrupt:
        if prog:
            prog.finish()
        print("bench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except BenchError as e:
        if prog:
            prog.finish()
        print("bench: error: %s" % e, file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        b.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
