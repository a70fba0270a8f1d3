//! Pieces shared by the v1 and v2 resource writers: runc's v1→v2 conversions and the
//! validation of values that end up in file names or multi-field lines.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

/// cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000), runc's formula.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// blkio.weight (v1, 10..1000) → io.weight (v2, 1..10000), runc's formula.
pub fn blkio_weight_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (w.saturating_sub(10) * 9999) / 990
}

/// OCI `memory.swap` is memory+swap (v1 memsw). v2's memory.swap.max is swap alone.
/// Returns the value for memory.swap.max: 0 unset, -1 max. (runc's
/// `ConvertMemorySwapToCgroupV2Value`.)
pub fn memsw_to_v2_swap(memsw: i64, memory: i64) -> Result<i64, Error> {
    if memory == -1 && memsw == 0 {
        return Ok(-1);
    }
    if memsw == -1 || memsw == 0 {
        return Ok(memsw);
    }
    let bad = |d: &str| Error::InvalidValue {
        what: "memory.swap",
        detail: d.to_owned(),
    };
    if memory == 0 || memory == -1 {
        return Err(bad("unable to set swap limit without memory limit"));
    }
    if memory < 0 {
        return Err(bad(&format!("invalid memory value: {memory}")));
    }
    if memsw < memory {
        return Err(bad("memory+swap limit should be >= memory limit"));
    }
    Ok(memsw - memory)
}

/// 0 → None (unset), -1 (or any negative) → "max", else the number.
pub(crate) fn num_or_max(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// A hugepage size goes into a file name: only `<digits><K|M|G>B`.
pub(crate) fn check_page_size(s: &str) -> Result<(), Error> {
    let ok = s.len() >= 3
        && s.ends_with('B')
        && matches!(s.as_bytes()[s.len() - 2], b'K' | b'M' | b'G')
        && s[..s.len() - 2].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "hugepageLimits.pageSize",
            detail: format!("{s:?} is not like 2MB or 1GB"),
        })
    }
}

/// Names that go into a space-separated control line (interfaces, rdma devices).
pub(crate) fn check_token(what: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty() || s.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
        return Err(Error::InvalidValue {
            what,
            detail: format!("{s:?} is empty or contains whitespace"),
        });
    }
    Ok(())
}

/// Keys of linux.resources.unified name a file in the cgroup dir.
pub(crate) fn check_unified_key(k: &str) -> Result<(), Error> {
    // cgroup.procs/threads would move arbitrary tasks; cgroup.subtree_control is ours.
    let forbidden = matches!(
        k,
        "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
    );
    if forbidden || k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
        return Err(Error::InvalidValue {
            what: "unified",
            detail: format!("{k:?} is not a cgroup control file name"),
        });
    }
    Ok(())
}

/// One devices.allow/deny line: "c 1:3 rwm", "a *:* rwm".
pub(crate) fn device_rule(d: &LinuxDeviceCgroup) -> Result<String, Error> {
    let t = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => {
            return Err(Error::InvalidValue {
                what: "devices",
                detail: "fifo (p) devices cannot be in a device cgroup rule".into(),
            })
        }
    };
    let n = |v: Option<i64>| match v {
        Some(v) if v >= 0 => v.to_string(),
        _ => "*".into(),
    };
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    let mut seen = [false; 3];
    for b in access.bytes() {
        let i = match b {
            b'r' => 0,
            b'w' => 1,
            b'm' => 2,
            _ => {
                return Err(Error::InvalidValue {
                    what: "devices.access",
                    detail: format!("{access:?}: only r, w and m are allowed"),
                })
            }
        };
        seen[i] = true;
    }
    let access: String = [('r', seen[0]), ('w', seen[1]), ('m', seen[2])]
        .iter()
        .filter(|(_, s)| *s)
        .map(|(c, _)| *c)
        .collect();
    Ok(format!("{t} {}:{} {access}", n(d.major()), n(d.minor())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(memsw_to_v2_swap(0, -1).unwrap(), -1);
        assert_eq!(memsw_to_v2_swap(-1, 100).unwrap(), -1);
        assert_eq!(memsw_to_v2_swap(300, 100).unwrap(), 200);
        assert_eq!(memsw_to_v2_swap(100, 100).unwrap(), 0);
        assert!(memsw_to_v2_swap(50, 100).is_err());
        assert!(memsw_to_v2_swap(50, 0).is_err());
    }

    #[test]
    fn validation() {
        check_page_size("2MB").unwrap();
        check_page_size("1GB").unwrap();
        for bad in ["", "MB", "2mb", "../2MB", "2MB/x", "2TB"] {
            assert!(check_page_size(bad).is_err(), "{bad}");
        }
        assert!(check_token("x", "eth0").is_ok());
        assert!(check_token("x", "eth0 1\nlo").is_err());
        assert!(check_unified_key("memory.high").is_ok());
        assert!(check_unified_key("../memory.high").is_err());
        assert!(check_unified_key("cgroup.procs").is_err());
        assert!(check_unified_key("cgroup.max.depth").is_ok());
    }

    #[test]
    fn device_rules() {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(false);
        assert_eq!(device_rule(&d).unwrap(), "a *:* rwm");
        d.set_typ(Some(LinuxDeviceType::C));
        d.set_major(Some(1));
        d.set_minor(Some(3));
        d.set_access(Some("mw".into()));
        assert_eq!(device_rule(&d).unwrap(), "c 1:3 wm");
        d.set_access(Some("rwx".into()));
        assert!(device_rule(&d).is_err());
    }
}
