//! Resource control on an existing container: `pause`, `resume`, `ps`,
//! `events` and `update` — the operations containerd and podman call. All of
//! them go through the container's cgroup (the `Cgroup` trait); messages and
//! refusals follow runc 1.1.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

pub use oci_spec::runtime::LinuxResources as Resources;

use crate::error::{Context, Error, Result};
use crate::ops::Loaded;
use crate::state::{Status, Store};

fn cgroup_of(l: &Loaded) -> Result<Box<dyn moat_cgroups::Cgroup>> {
    let st = l
        .state
        .as_ref()
        .ok_or_else(|| Error::Refused("container not running".into()))?;
    let root = moat_cgroups::Root::detect()?;
    Ok(moat_cgroups::open_recorded(
        &root,
        st.cgroups_path.as_deref(),
        &st.id,
        &st.cgroup_paths,
    )?)
}

/// `pause`: freeze every process of a running (or created) container.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let l = Loaded::open(store, id)?;
    match l.status() {
        Status::Running | Status::Created => {}
        _ => return Err(Error::Refused("container not running".into())),
    }
    cgroup_of(&l)?.freeze()?;
    Ok(())
}

/// `resume`: thaw a paused container.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let l = Loaded::open(store, id)?;
    if l.status() != Status::Paused {
        return Err(Error::Refused("container not paused".into()));
    }
    cgroup_of(&l)?.thaw()?;
    Ok(())
}

/// The host pids of the container's cgroup (runc's `ps -f json`).
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let l = Loaded::open(store, id)?;
    let cg = cgroup_of(&l)?;
    let mut p = match cg.pids() {
        Ok(p) => p,
        // A stopped container whose cgroup is gone has no processes.
        Err(moat_cgroups::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    p.sort_unstable();
    Ok(p)
}

/// runc's `ps` table: run `ps <args>` (default `-ef`), print its header and
/// the lines whose PID column is one of `pids`.
pub fn ps_table(pids: &[i32], args: &[String]) -> Result<String> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .at("run", "ps")?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(Error::Refused(format!("{}: {text}", out.status)));
    }
    filter_ps(&text, pids)
}

/// The filtering half of [`ps_table`] (pure, for tests).
pub fn filter_ps(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.split('\n');
    let head = lines.next().unwrap_or("");
    let idx = head
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::Refused("couldn't find PID field in ps output".into()))?;
    let mut s = format!("{head}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let f = line.split_whitespace().nth(idx).unwrap_or("");
        let p: i32 = f
            .parse()
            .map_err(|e| Error::Refused(format!("unable to parse pid: {e}")))?;
        if pids.contains(&p) {
            s.push_str(line);
            s.push('\n');
        }
    }
    Ok(s)
}

/// One `{"type":"stats","id":..,"data":{..}}` event.
pub fn stats_event(id: &str, cg: &dyn moat_cgroups::Cgroup) -> Result<serde_json::Value> {
    let s = cg.stats()?;
    let mut data = serde_json::to_value(s).expect("stats serialize");
    // runc's shape has these two even when it has nothing to say.
    data["intel_rdt"] = serde_json::json!({});
    data["network_interfaces"] = serde_json::Value::Null;
    Ok(serde_json::json!({"type": "stats", "id": id, "data": data}))
}

fn require_alive(l: &Loaded, id: &str) -> Result<()> {
    match l.status() {
        Status::Stopped => Err(Error::Refused(format!(
            "container with id {id} is not running"
        ))),
        _ => Ok(()),
    }
}

/// `events --stats`: one stats event.
pub fn stats(store: &Store, id: &str) -> Result<serde_json::Value> {
    let l = Loaded::open(store, id)?;
    require_alive(&l, id)?;
    stats_event(id, &*cgroup_of(&l)?)
}

/// How OOM kills are noticed.
enum OomWatch {
    /// cgroup v1: an eventfd registered on memory.oom_control.
    V1 {
        efd: std::os::fd::OwnedFd,
        _ctl: std::fs::File,
    },
    /// cgroup v2: the `oom_kill` counter of memory.events.
    V2 {
        events: PathBuf,
        last: u64,
    },
    None,
}

fn v2_oom_kills(p: &Path) -> u64 {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The leaves among the recorded cgroup dirs (no other recorded dir below them).
fn leaves(paths: &[PathBuf]) -> Vec<&Path> {
    paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q != *p && q.starts_with(p)))
        .map(|p| p.as_path())
        .collect()
}

fn oom_watch(paths: &[PathBuf]) -> OomWatch {
    let leaves = leaves(paths);
    for d in &leaves {
        let ctl = d.join("memory.oom_control");
        if !ctl.exists() {
            continue;
        }
        let Ok(ctl_f) = std::fs::File::open(&ctl) else {
            continue;
        };
        let Ok(efd) = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        ) else {
            continue;
        };
        use std::os::fd::AsRawFd;
        let line = format!("{} {}", efd.as_raw_fd(), ctl_f.as_raw_fd());
        if std::fs::write(d.join("cgroup.event_control"), line).is_ok() {
            return OomWatch::V1 { efd, _ctl: ctl_f };
        }
    }
    for d in &leaves {
        let ev = d.join("memory.events");
        if ev.exists() {
            let last = v2_oom_kills(&ev);
            return OomWatch::V2 { events: ev, last };
        }
    }
    OomWatch::None
}

/// `events` without `--stats`: a stats event every `interval` and an `oom`
/// event whenever the kernel's OOM killer acts in the container, one JSON
/// object per line, until the container stops.
pub fn stream(store: &Store, id: &str, interval: Duration, out: &mut dyn Write) -> Result<()> {
    let (st, cg) = {
        let l = Loaded::open(store, id)?;
        require_alive(&l, id)?;
        let cg = cgroup_of(&l)?;
        (l.state.clone().expect("alive has state"), cg)
        // The lock is released here: `kill`, `delete` work while we watch.
    };
    let mut watch = oom_watch(&st.cgroup_paths);
    let tick = interval.max(Duration::from_millis(1));
    let mut next = Instant::now();
    let emit = |v: serde_json::Value, out: &mut dyn Write| -> Result<()> {
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .at("write", "stdout")
    };
    loop {
        if !st.init_alive() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= next {
            match stats_event(id, &*cg) {
                Ok(v) => emit(v, out)?,
                // The container went away between the check and the read.
                Err(_) if !st.init_alive() => return Ok(()),
                Err(e) => eprintln!("moat: events: {e}"),
            }
            next = now + tick;
        }
        // Wake for the next tick, an OOM, or (at least every 200 ms) to
        // notice that the container stopped.
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        let ts = rustix::fs::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: wait.subsec_nanos() as i64,
        };
        let oom = match &mut watch {
            OomWatch::V1 { efd, .. } => {
                let mut fds = [rustix::event::PollFd::new(
                    efd,
                    rustix::event::PollFlags::IN,
                )];
                match rustix::event::poll(&mut fds, Some(&ts)) {
                    Ok(n) if n > 0 => {
                        let mut b = [0u8; 8];
                        let fired = rustix::io::read(efd.as_fd(), &mut b).is_ok();
                        // The eventfd also fires when the cgroup is removed.
                        fired && st.cgroup_paths.iter().any(|p| p.exists())
                    }
                    _ => false,
                }
            }
            OomWatch::V2 { events, last } => {
                std::thread::sleep(wait);
                let n = v2_oom_kills(events);
                let fired = n > *last;
                *last = n;
                fired
            }
            OomWatch::None => {
                std::thread::sleep(wait);
                false
            }
        };
        if oom {
            emit(serde_json::json!({"type": "oom", "id": id}), out)?;
        }
    }
}

/// The flags of `update` (each `None` when not given). Sizes are already
/// parsed to bytes (-1 = unlimited).
#[derive(Debug, Clone, Default)]
pub struct UpdateOpts {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub kernel_memory: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

impl UpdateOpts {
    /// The resources to write. Only memory, cpu, pids and the blkio weight
    /// can be updated (as runc): devices, hugetlb, network, rdma and unified
    /// stay as created, whatever a resources file says.
    pub fn resources(&self) -> LinuxResources {
        let mut r = LinuxResources::default();
        let any_mem = self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some();
        if any_mem {
            let mut m = LinuxMemory::default();
            m.set_limit(self.memory);
            m.set_swap(self.memory_swap);
            m.set_reservation(self.memory_reservation);
            r.set_memory(Some(m));
        }
        let any_cpu = self.cpu_shares.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_period.is_some()
            || self.cpu_rt_period.is_some()
            || self.cpu_rt_runtime.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some();
        if any_cpu {
            let mut c = LinuxCpu::default();
            c.set_shares(self.cpu_shares);
            c.set_quota(self.cpu_quota);
            c.set_period(self.cpu_period);
            c.set_realtime_period(self.cpu_rt_period);
            c.set_realtime_runtime(self.cpu_rt_runtime);
            c.set_cpus(self.cpuset_cpus.clone());
            c.set_mems(self.cpuset_mems.clone());
            r.set_cpu(Some(c));
        }
        if let Some(l) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(l);
            r.set_pids(Some(p));
        }
        if let Some(w) = self.blkio_weight {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            r.set_block_io(Some(b));
        }
        r
    }

    /// From a resources document (`update -r`): runc's accepted subset.
    pub fn from_resources(r: &LinuxResources) -> UpdateOpts {
        let m = r.memory().as_ref();
        let c = r.cpu().as_ref();
        UpdateOpts {
            memory: m.and_then(|m| m.limit()),
            memory_swap: m.and_then(|m| m.swap()),
            memory_reservation: m.and_then(|m| m.reservation()),
            kernel_memory: m.and_then(|m| m.kernel()),
            cpu_shares: c.and_then(|c| c.shares()),
            cpu_quota: c.and_then(|c| c.quota()),
            cpu_period: c.and_then(|c| c.period()),
            cpu_rt_period: c.and_then(|c| c.realtime_period()),
            cpu_rt_runtime: c.and_then(|c| c.realtime_runtime()),
            cpuset_cpus: c.and_then(|c| c.cpus().clone()).filter(|s| !s.is_empty()),
            cpuset_mems: c.and_then(|c| c.mems().clone()).filter(|s| !s.is_empty()),
            pids_limit: r.pids().as_ref().map(|p| p.limit()),
            blkio_weight: r.block_io().as_ref().and_then(|b| b.weight()),
        }
    }
}

/// Control files an update may write, saved before and written back if the
/// kernel refuses part of the update.
const UPDATE_FILES: &[&str] = &[
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "cpu.shares",
    "cpu.cfs_period_us",
    "cpu.cfs_quota_us",
    "cpu.rt_period_us",
    "cpu.rt_runtime_us",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "blkio.weight",
    "blkio.bfq.weight",
    // cgroup v2
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "cpu.weight",
    "cpu.max",
    "io.weight",
    "io.bfq.weight",
];

fn snapshot(leaves: &[&Path]) -> Vec<(PathBuf, String)> {
    let mut v = Vec::new();
    for d in leaves {
        for f in UPDATE_FILES {
            let p = d.join(f);
            if let Ok(s) = std::fs::read_to_string(&p) {
                v.push((p, s.trim().to_string()));
            }
        }
    }
    v
}

/// Write back what changed; several passes, since v1 memory and memsw must
/// be written in the order that keeps memsw >= memory.
fn restore(saved: &[(PathBuf, String)]) -> Vec<String> {
    let mut left: Vec<&(PathBuf, String)> = saved
        .iter()
        .filter(|(p, v)| std::fs::read_to_string(p).is_ok_and(|s| s.trim() != v))
        .collect();
    let mut errs = Vec::new();
    for _ in 0..3 {
        errs.clear();
        left.retain(|(p, v)| {
            // "default" is how io.weight reads its default; write the number.
            let v = v.strip_prefix("default ").unwrap_or(v);
            match std::fs::write(p, v) {
                Ok(()) => false,
                Err(e) => {
                    errs.push(format!("{}: {e}", p.display()));
                    true
                }
            }
        });
        if left.is_empty() {
            break;
        }
    }
    errs
}

/// `update`: change the resources of a created, running or paused container.
/// When the kernel refuses a value, what was already written is put back and
/// the error names the file and the errno.
pub fn update(store: &Store, id: &str, o: &UpdateOpts) -> Result<()> {
    let l = Loaded::open(store, id)?;
    if matches!(l.status(), Status::Stopped | Status::Creating) {
        return Err(Error::Refused("container not running".into()));
    }
    if o.kernel_memory.is_some_and(|k| k != 0) {
        eprintln!("moat: warning: Kernel memory settings are ignored and will be removed");
    }
    if let Some(w) = o.blkio_weight {
        if w != 0 && !(10..=1000).contains(&w) {
            return Err(Error::Refused(format!(
                "invalid blkio weight {w}: the range is 10 to 1000"
            )));
        }
    }
    let cg = cgroup_of(&l)?;
    let st = l.state.as_ref().expect("not stopped");
    let saved = snapshot(&leaves(&st.cgroup_paths));
    if let Err(e) = cg.apply(&o.resources()) {
        let errs = restore(&saved);
        if !errs.is_empty() {
            eprintln!(
                "moat: warning: setting back the previous cgroup values failed: {}",
                errs.join("; ")
            );
        }
        return Err(e.into());
    }
    Ok(())
}

/// Docker's `RAMInBytes`, as runc parses `--memory` and friends: a number
/// with an optional binary unit (k, m, g, t, p; "b", "ib" suffixes
/// allowed), or -1 for unlimited.
pub fn parse_size(s: &str) -> std::result::Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.trim_end_matches(['i', 'I']);
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m: i64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                'p' => 1 << 50,
                _ => return Err(bad()),
            };
            (t[..t.len() - 1].trim_end(), m)
        }
        _ => (t, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    Ok((n * mult as f64) as i64)
}

/// Go's `time.ParseDuration` for the forms people use: "5s", "100ms",
/// "1m30s", "1.5h", "250us", "10ns".
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += v * secs;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker_units() {
        assert_eq!(parse_size("-1"), Ok(-1));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("50M"), Ok(50 << 20));
        assert_eq!(parse_size("50m"), Ok(50 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("10mb"), Ok(10 << 20));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("abc"), Err("invalid size: 'abc'".into()));
        assert!(parse_size("").is_err());
        assert!(parse_size("12x").is_err());
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn ps_filter_keeps_header_and_our_pids() {
        let text = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\nroot 43 1 sh\n";
        assert_eq!(
            filter_ps(text, &[42]).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sleep\n"
        );
        assert!(filter_ps("UID CMD\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn leaves_are_the_deepest() {
        let p: Vec<PathBuf> = ["/a", "/a/b", "/a/b/c", "/x/c"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(leaves(&p), vec![Path::new("/a/b/c"), Path::new("/x/c")]);
    }

    #[test]
    fn update_resources_only_what_was_given() {
        let o = UpdateOpts {
            pids_limit: Some(10),
            ..Default::default()
        };
        let r = o.resources();
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert!(r.memory().is_none() && r.cpu().is_none() && r.devices().is_none());
        let doc: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1000},"devices":[{"allow":true,"access":"rwm"}]}"#,
        )
        .unwrap();
        let r = UpdateOpts::from_resources(&doc).resources();
        assert!(r.devices().is_none());
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1000));
    }
}
