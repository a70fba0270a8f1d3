//! cgroup v1 (and hybrid) manager: one directory per mounted hierarchy (the controllers
//! runc joins plus `name=systemd`); on hybrid hosts also the cgroup2 (unified) directory,
//! which is created and joined but gets no resources (as runc does).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::dirs::{Dir, Dirs};
use crate::fsutil::{self, nap, parse_flat_keyed, read, read_u64, read_u64_opt};
use crate::path::CgPath;
use crate::stats::{BlkioEntry, Hugetlb, MemoryEntry, Stats};
use crate::{v1_resources, Cgroup, Error, FreezerState, Layout, Root};

/// USER_HZ: cpuacct.stat is in clock ticks.
const CLOCK_TICKS: u64 = 100;

pub(crate) struct V1 {
    dirs: Dirs,
    layout: Layout,
}

impl V1 {
    pub(crate) fn new(root: &Root, p: &CgPath, recorded: Option<&[PathBuf]>) -> Result<V1, Error> {
        let mut dirs = Vec::with_capacity(root.v1.len() + 1);
        for h in &root.v1 {
            dirs.push(Dir::new(h, p, recorded)?);
        }
        if root.layout == Layout::Hybrid {
            if let Some(u) = &root.unified {
                dirs.push(Dir::new(u, p, recorded)?);
            }
        }
        Ok(V1 {
            dirs: Dirs::new(dirs, recorded),
            layout: root.layout,
        })
    }

    fn freezer(&self) -> Result<&Path, Error> {
        self.dirs.find("freezer").ok_or(Error::ControllerMissing {
            resource: "freeze",
            controller: "freezer",
        })
    }

    /// The classic v1 cpuset problem: a new cpuset cgroup starts with empty cpus/mems and
    /// no task can join it. Copy them down from the parent, level by level (runc does so).
    fn fix_cpuset(&self) -> Result<(), Error> {
        let Some(d) = self
            .dirs
            .dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == "cpuset"))
        else {
            return Ok(());
        };
        let rel = d.leaf.strip_prefix(&d.mount).unwrap_or(Path::new(""));
        let mut parent = d.mount.clone();
        for c in rel.components() {
            let cur = parent.join(c);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if !fsutil::exists(&cur, f) {
                    continue; // fake tree without the file
                }
                if read(&cur, f)?.trim().is_empty() {
                    let v = read(&parent, f)?;
                    if !v.trim().is_empty() {
                        fsutil::write(&cur, f, v.trim())?;
                    }
                }
            }
            parent = cur;
        }
        Ok(())
    }
}

impl Cgroup for V1 {
    fn paths(&self) -> Vec<PathBuf> {
        self.dirs.paths()
    }

    fn create(&self) -> Result<(), Error> {
        self.dirs.create()?;
        self.fix_cpuset()
    }

    fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        v1_resources::apply(&self.dirs, r, self.layout)
    }

    fn add_pid(&self, pid: i32) -> Result<(), Error> {
        self.dirs.add_pid(pid)
    }

    fn pids(&self) -> Result<Vec<i32>, Error> {
        let d = self
            .dirs
            .find("freezer")
            .or_else(|| self.dirs.find("memory"))
            .or_else(|| self.dirs.dirs.first().map(|d| d.leaf.as_path()));
        match d {
            Some(d) => fsutil::read_pids(d),
            None => Ok(Vec::new()),
        }
    }

    fn freeze(&self) -> Result<(), Error> {
        let d = self.freezer()?;
        // As runc: keep asking (a task can be in a state where it will not freeze yet), and
        // give up after about a second, thawing again.
        for i in 0..1000 {
            if i % 50 == 0 {
                fsutil::write(d, "freezer.state", "FROZEN")?;
            }
            if read(d, "freezer.state")?.trim() == "FROZEN" {
                return Ok(());
            }
            nap(1);
        }
        fsutil::write(d, "freezer.state", "THAWED")?;
        Err(Error::FreezeTimeout {
            path: d.to_path_buf(),
        })
    }

    fn thaw(&self) -> Result<(), Error> {
        let d = self.freezer()?;
        fsutil::write(d, "freezer.state", "THAWED")
    }

    fn state(&self) -> Result<FreezerState, Error> {
        let Some(d) = self.dirs.find("freezer") else {
            return Ok(FreezerState::Thawed);
        };
        Ok(match read(d, "freezer.state")?.trim() {
            "FROZEN" => FreezerState::Frozen,
            _ => FreezerState::Thawed,
        })
    }

    fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        if let Some(d) = self.dirs.find("cpuacct") {
            cpuacct_stats(d, &mut s)?;
        }
        if let Some(d) = self.dirs.find("cpu") {
            if let Ok(t) = read(d, "cpu.stat") {
                for (k, v) in parse_flat_keyed(&t) {
                    match k {
                        "nr_periods" => s.cpu.throttling.periods = v,
                        "nr_throttled" => s.cpu.throttling.throttled_periods = v,
                        "throttled_time" => s.cpu.throttling.throttled_time = v,
                        _ => {}
                    }
                }
            }
        }
        if let Some(d) = self.dirs.find("memory") {
            memory_stats(d, &mut s)?;
        }
        if let Some(d) = self.dirs.find("pids") {
            s.pids.current = read_u64(d, "pids.current")?;
            let max = read_u64(d, "pids.max")?;
            s.pids.limit = if max == u64::MAX { 0 } else { max };
        }
        if let Some(d) = self.dirs.find("blkio") {
            let (bytes, ios) = if fsutil::exists(d, "blkio.io_service_bytes_recursive") {
                (
                    "blkio.io_service_bytes_recursive",
                    "blkio.io_serviced_recursive",
                )
            } else {
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "blkio.throttle.io_serviced_recursive",
                )
            };
            s.blkio.io_service_bytes_recursive = blkio_entries(d, bytes)?;
            s.blkio.io_serviced_recursive = blkio_entries(d, ios)?;
        }
        if let Some(d) = self.dirs.find("hugetlb") {
            for size in hugetlb_sizes(d, ".limit_in_bytes")? {
                let e = Hugetlb {
                    usage: read_u64_opt(d, &format!("hugetlb.{size}.usage_in_bytes"))?,
                    max: read_u64_opt(d, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                    failcnt: read_u64_opt(d, &format!("hugetlb.{size}.failcnt"))?,
                };
                s.hugetlb.insert(size, e);
            }
        }
        Ok(s)
    }

    fn destroy(&self) -> Result<(), Error> {
        self.dirs.destroy()
    }

    fn v2_dir_fd(&self) -> Option<OwnedFd> {
        let leaf = self.dirs.unified_leaf()?;
        rustix::fs::open(
            leaf,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    fn enter(&self) -> Result<Option<crate::Entered>, Error> {
        self.dirs.enter().map(Some)
    }
}

fn cpuacct_stats(d: &Path, s: &mut Stats) -> Result<(), Error> {
    s.cpu.usage.total = read_u64(d, "cpuacct.usage")?;
    if let Ok(t) = read(d, "cpuacct.usage_percpu") {
        s.cpu.usage.percpu = t
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
    }
    if let Ok(t) = read(d, "cpuacct.stat") {
        for (k, v) in parse_flat_keyed(&t) {
            let ns = v.saturating_mul(1_000_000_000 / CLOCK_TICKS);
            match k {
                "user" => s.cpu.usage.user = ns,
                "system" => s.cpu.usage.kernel = ns,
                _ => {}
            }
        }
    }
    Ok(())
}

fn mem_entry(d: &Path, prefix: &str) -> Result<MemoryEntry, Error> {
    if !fsutil::exists(d, &format!("{prefix}.limit_in_bytes")) {
        return Ok(MemoryEntry::default());
    }
    Ok(MemoryEntry {
        limit: read_u64(d, &format!("{prefix}.limit_in_bytes"))?,
        usage: read_u64_opt(d, &format!("{prefix}.usage_in_bytes"))?,
        max: read_u64_opt(d, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: read_u64_opt(d, &format!("{prefix}.failcnt"))?,
    })
}

fn memory_stats(d: &Path, s: &mut Stats) -> Result<(), Error> {
    let raw = read(d, "memory.stat")?;
    for (k, v) in parse_flat_keyed(&raw) {
        s.memory.raw.insert(k.to_owned(), v);
    }
    s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    s.memory.usage = mem_entry(d, "memory")?;
    s.memory.swap = mem_entry(d, "memory.memsw")?;
    s.memory.kernel = mem_entry(d, "memory.kmem")?;
    s.memory.kernel_tcp = mem_entry(d, "memory.kmem.tcp")?;
    Ok(())
}

/// "8:0 Read 4096" lines ("Total N" lines are skipped, as runc does).
fn blkio_entries(d: &Path, file: &str) -> Result<Vec<BlkioEntry>, Error> {
    let t = match read(d, file) {
        Ok(t) => t,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut v = Vec::new();
    for l in t.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let Some((maj, min)) = f[0].split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor), Ok(value)) = (maj.parse(), min.parse(), f[2].parse()) else {
            continue;
        };
        v.push(BlkioEntry {
            major,
            minor,
            op: f[1].to_owned(),
            value,
        });
    }
    Ok(v)
}

/// Page sizes that have `hugetlb.<size><suffix>` files in `d`.
pub(crate) fn hugetlb_sizes(d: &Path, suffix: &str) -> Result<Vec<String>, Error> {
    let rd = std::fs::read_dir(d).map_err(|e| Error::io("readdir", d, e))?;
    let mut v = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix))
        {
            if !size.contains('.') {
                v.push(size.to_owned());
            }
        }
    }
    v.sort();
    Ok(v)
}
