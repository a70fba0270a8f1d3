//! Writes `linux.resources` to cgroup v2 files, in runc's fs2 order (pids, memory, io, cpu,
//! cpuset, hugetlb, rdma, devices, unified), with runc's v1→v2 conversions.
//!
//! Not applied on v2, as in runc: memory.swappiness, memory.disableOOMKiller, kernel
//! memory, blockIO.leafWeight, network (net_cls/net_prio do not exist on v2).
//! Refused: realtime CPU (no v2 equivalent). Device rules become an eBPF program
//! (`v2_devices.rs`).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::fsutil::{exists, write};
use crate::resources::{
    blkio_weight_to_io_weight, check_page_size, check_unified_key, memsw_to_v2_swap, num_or_max,
    shares_to_weight,
};
use crate::{Error, Layout};

pub(crate) fn apply(d: &Path, r: &LinuxResources) -> Result<(), Error> {
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write(d, "pids.max", &v)?;
        }
    }
    if let Some(m) = r.memory() {
        memory(d, m)?;
    }
    if let Some(b) = r.block_io() {
        io(d, b)?;
    }
    if let Some(c) = r.cpu() {
        cpu(d, c)?;
        for (v, f) in [(c.cpus(), "cpuset.cpus"), (c.mems(), "cpuset.mems")] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                write(d, f, v)?;
            }
        }
    }
    if let Some(limits) = r.hugepage_limits() {
        for l in limits {
            check_page_size(l.page_size())?;
            let v = l.limit().to_string();
            write(d, &format!("hugetlb.{}.max", l.page_size()), &v)?;
            if exists(d, &format!("hugetlb.{}.rsvd.max", l.page_size())) {
                write(d, &format!("hugetlb.{}.rsvd.max", l.page_size()), &v)?;
            }
        }
    }
    if let Some(m) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
        crate::v1_resources::rdma_write(d, m)?;
    }
    if let Some(devs) = r.devices().as_deref().filter(|d| !d.is_empty()) {
        crate::v2_devices::apply(d, devs)?;
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            check_unified_key(k)?;
            write(d, k, &u[k])?;
        }
    }
    Ok(())
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().unwrap_or(0);
    let memsw = m.swap().unwrap_or(0);
    let swap = memsw_to_v2_swap(memsw, limit)?;
    let mut swap_s = num_or_max(swap);
    if swap_s.is_none() && swap == 0 && memsw > 0 {
        swap_s = Some("0".into()); // memory == memsw: no swap at all
    }
    if let Some(s) = swap_s {
        match write(d, "memory.swap.max", &s) {
            // No swap accounting: "max" and "0" are what we have anyway.
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && (s == "max" || s == "0") => {}
            r => r?,
        }
    }
    if let Some(v) = num_or_max(limit) {
        write(d, "memory.max", &v)?;
    }
    if let Some(v) = num_or_max(m.reservation().unwrap_or(0)) {
        write(d, "memory.low", &v)?;
    }
    Ok(())
}

fn io(d: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    let bfq = exists(d, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            write(d, "io.bfq.weight", &w.to_string())?;
        } else {
            write(
                d,
                "io.weight",
                &blkio_weight_to_io_weight(w.into()).to_string(),
            )?;
        }
    }
    for wd in b.weight_device().as_deref().unwrap_or(&[]) {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let (f, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", blkio_weight_to_io_weight(w.into()))
            };
            write(d, f, &format!("{}:{} {v}", wd.major(), wd.minor()))?;
        }
    }
    for (devs, key) in [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ] {
        for t in devs.as_deref().unwrap_or(&[]) {
            write(
                d,
                "io.max",
                &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if c.realtime_period().unwrap_or(0) != 0 || c.realtime_runtime().unwrap_or(0) != 0 {
        return Err(Error::Unsupported {
            what: "realtime CPU scheduling (cpu.realtimeRuntime/realtimePeriod)".into(),
            layout: Layout::V2.name(),
        });
    }
    if let Some(i) = c.idle() {
        write(d, "cpu.idle", &i.to_string())?;
    }
    let w = shares_to_weight(c.shares().unwrap_or(0));
    if w != 0 {
        write(d, "cpu.weight", &w.to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".into()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        write(d, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst() {
        write(d, "cpu.max.burst", &b.to_string())?;
    }
    Ok(())
}
