//! Writes `linux.resources` to cgroup v1 files, in runc's subsystem order (cpuset, devices,
//! memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma). A resource asked for a
//! controller that is not mounted is an error, as in runc ("cannot set ... limit").

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::dirs::Dirs;
use crate::fsutil::{exists, read_u64, read_u64_opt, write, write_if_exists};
use crate::resources::{check_page_size, check_token, device_rule};
use crate::{Error, Layout};

const EINVAL: i32 = 22;
const EBUSY: i32 = 16;
const EOPNOTSUPP: i32 = 95;

pub(crate) fn apply(dirs: &Dirs, r: &LinuxResources, layout: Layout) -> Result<(), Error> {
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(Error::Unsupported {
            what: "linux.resources.unified".into(),
            layout: layout.name(),
        });
    }
    if let Some(c) = r.cpu() {
        cpuset(dirs, c)?;
    }
    devices(dirs, r)?;
    if let Some(m) = r.memory() {
        memory(dirs, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dirs, c)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let d = need(dirs, "pids", "pids.limit")?;
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write(d, "pids.max", &v)?;
        }
    }
    if let Some(b) = r.block_io() {
        blkio(dirs, b)?;
    }
    hugetlb(dirs, r)?;
    network(dirs, r)?;
    rdma(dirs, r)
}

fn need<'a>(
    dirs: &'a Dirs,
    controller: &'static str,
    resource: &'static str,
) -> Result<&'a Path, Error> {
    dirs.find(controller).ok_or(Error::ControllerMissing {
        resource,
        controller,
    })
}

fn cpuset(dirs: &Dirs, c: &LinuxCpu) -> Result<(), Error> {
    for (v, f, what) in [
        (c.cpus(), "cpuset.cpus", "cpu.cpus"),
        (c.mems(), "cpuset.mems", "cpu.mems"),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            write(need(dirs, "cpuset", what)?, f, v)?;
        }
    }
    Ok(())
}

fn devices(dirs: &Dirs, r: &LinuxResources) -> Result<(), Error> {
    let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let d = need(dirs, "devices", "devices")?;
    // Validate everything before the first write.
    let lines = rules
        .iter()
        .map(device_rule)
        .collect::<Result<Vec<_>, _>>()?;
    for (rule, line) in rules.iter().zip(&lines) {
        let f = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(d, f, line)?;
    }
    Ok(())
}

fn memory(dirs: &Dirs, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    let swappiness = m.swappiness().filter(|s| *s != u64::MAX);
    let kernel = m.kernel().filter(|k| *k != 0);
    let kernel_tcp = m.kernel_tcp().filter(|k| *k != 0);
    let oom_off = m.disable_oom_killer() == Some(true);
    if limit == 0
        && swap == 0
        && reservation == 0
        && swappiness.is_none()
        && kernel.is_none()
        && kernel_tcp.is_none()
        && !oom_off
    {
        return Ok(());
    }
    let d = need(dirs, "memory", "memory")?;
    if let Some(s) = swappiness {
        if s > 100 {
            return Err(Error::InvalidValue {
                what: "memory.swappiness",
                detail: format!("{s} (valid range is 0-100)"),
            });
        }
    }
    // Unlimited memory with swap unset means unlimited memsw too (if swap accounting is on).
    if limit == -1 && swap == 0 && exists(d, "memory.memsw.limit_in_bytes") {
        swap = -1;
    }
    // memsw must stay >= limit at every step: grow memsw first when it goes up.
    let swap_first = limit != 0 && swap != 0 && {
        let cur = read_u64(d, "memory.limit_in_bytes")?;
        swap == -1 || cur < swap as u64
    };
    if swap_first {
        set_swap(d, swap)?;
        set_limit(d, limit)?;
    } else {
        set_limit(d, limit)?;
        set_swap(d, swap)?;
    }
    // Kernel memory limits are gone from recent kernels; like runc, a missing or
    // unsupported file is not an error.
    for (v, f) in [
        (kernel, "memory.kmem.limit_in_bytes"),
        (kernel_tcp, "memory.kmem.tcp.limit_in_bytes"),
    ] {
        if let Some(v) = v {
            match write_if_exists(d, f, &v.to_string()) {
                Err(e) if matches!(e.raw_os_error(), Some(EOPNOTSUPP) | Some(EINVAL)) => {}
                r => {
                    r?;
                }
            }
        }
    }
    if reservation != 0 {
        write(d, "memory.soft_limit_in_bytes", &reservation.to_string())?;
    }
    if oom_off {
        write(d, "memory.oom_control", "1")?;
    }
    if let Some(s) = swappiness {
        write(d, "memory.swappiness", &s.to_string())?;
    }
    Ok(())
}

fn set_limit(d: &Path, limit: i64) -> Result<(), Error> {
    if limit == 0 {
        return Ok(());
    }
    match write(d, "memory.limit_in_bytes", &limit.to_string()) {
        Err(e) if e.raw_os_error() == Some(EBUSY) => Err(Error::MemoryBusy {
            path: d.join("memory.limit_in_bytes"),
            limit,
            usage: read_u64_opt(d, "memory.usage_in_bytes").unwrap_or(0),
            peak: read_u64_opt(d, "memory.max_usage_in_bytes").unwrap_or(0),
        }),
        r => r,
    }
}

fn set_swap(d: &Path, swap: i64) -> Result<(), Error> {
    if swap == 0 {
        return Ok(());
    }
    write(d, "memory.memsw.limit_in_bytes", &swap.to_string())
}

fn cpu(dirs: &Dirs, c: &LinuxCpu) -> Result<(), Error> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let rt_period = c.realtime_period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    if shares == 0
        && quota == 0
        && period == 0
        && rt_period == 0
        && rt_runtime == 0
        && c.burst().is_none()
        && c.idle().is_none()
    {
        return Ok(());
    }
    let d = need(dirs, "cpu", "cpu")?;
    if shares != 0 {
        write(d, "cpu.shares", &shares.to_string())?;
        let got = read_u64(d, "cpu.shares")?;
        if got != shares {
            let dir = if shares > got { "maximum" } else { "minimum" };
            return Err(Error::InvalidValue {
                what: "cpu.shares",
                detail: format!("the {dir} allowed cpu-shares is {got}"),
            });
        }
    }
    // A smaller period can be refused (EINVAL) while the old quota is in place: then set
    // the quota first and retry the period (runc does the same).
    let mut retry_period = false;
    if period != 0 {
        match write(d, "cpu.cfs_period_us", &period.to_string()) {
            Err(e) if e.raw_os_error() == Some(EINVAL) && quota != 0 => retry_period = true,
            r => r?,
        }
    }
    if quota != 0 {
        write(d, "cpu.cfs_quota_us", &quota.to_string())?;
        if retry_period {
            write(d, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    if let Some(b) = c.burst() {
        write(d, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if rt_period != 0 {
        write(d, "cpu.rt_period_us", &rt_period.to_string())?;
    }
    if rt_runtime != 0 {
        write(d, "cpu.rt_runtime_us", &rt_runtime.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn blkio(dirs: &Dirs, b: &LinuxBlockIo) -> Result<(), Error> {
    let wd = b.weight_device().as_deref().unwrap_or(&[]);
    let thr = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    let any_thr = thr
        .iter()
        .any(|(v, _)| v.as_ref().is_some_and(|v| !v.is_empty()));
    let weight = b.weight().unwrap_or(0);
    let leaf = b.leaf_weight().unwrap_or(0);
    if weight == 0 && leaf == 0 && wd.is_empty() && !any_thr {
        return Ok(());
    }
    let d = need(dirs, "blkio", "blockIO")?;
    // With the BFQ scheduler the weight files are blkio.bfq.*.
    let bfq = exists(d, "blkio.bfq.weight");
    let (wf, wdf) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if weight != 0 {
        write(d, wf, &weight.to_string())?;
    }
    if leaf != 0 {
        write(d, "blkio.leaf_weight", &leaf.to_string())?;
    }
    for w in wd {
        if let Some(v) = w.weight().filter(|v| *v != 0) {
            write(d, wdf, &format!("{}:{} {v}", w.major(), w.minor()))?;
        }
        if let Some(v) = w.leaf_weight().filter(|v| *v != 0) {
            write(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {v}", w.major(), w.minor()),
            )?;
        }
    }
    for (devs, f) in thr {
        for t in devs.as_deref().unwrap_or(&[]) {
            write(d, f, &format!("{}:{} {}", t.major(), t.minor(), t.rate()))?;
        }
    }
    Ok(())
}

fn hugetlb(dirs: &Dirs, r: &LinuxResources) -> Result<(), Error> {
    let Some(limits) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let d = need(dirs, "hugetlb", "hugepageLimits")?;
    for l in limits {
        check_page_size(l.page_size())?;
        let v = l.limit().to_string();
        write(d, &format!("hugetlb.{}.limit_in_bytes", l.page_size()), &v)?;
        write_if_exists(
            d,
            &format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size()),
            &v,
        )?;
    }
    Ok(())
}

fn network(dirs: &Dirs, r: &LinuxResources) -> Result<(), Error> {
    let Some(n) = r.network() else { return Ok(()) };
    if let Some(id) = n.class_id() {
        write(
            need(dirs, "net_cls", "network.classID")?,
            "net_cls.classid",
            &id.to_string(),
        )?;
    }
    if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
        let d = need(dirs, "net_prio", "network.priorities")?;
        for p in prios {
            check_token("network.priorities.name", p.name())?;
            write(
                d,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}

fn rdma(dirs: &Dirs, r: &LinuxResources) -> Result<(), Error> {
    let Some(m) = r.rdma().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let d = need(dirs, "rdma", "rdma")?;
    rdma_write(d, m)
}

/// rdma.max lines, shared with v2 (same file format).
pub(crate) fn rdma_write(
    d: &Path,
    m: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
) -> Result<(), Error> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for dev in keys {
        check_token("rdma device", dev)?;
        let l = &m[dev];
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        write(d, "rdma.max", &line)?;
    }
    Ok(())
}
