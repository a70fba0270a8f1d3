//! Host id ranges for per-container user namespaces (the hardened floor).
//!
//! The host reserves a range for moat — a `moat:START:COUNT` line in
//! /etc/subuid (and /etc/subgid), or by default 1000000000:1073741824, far
//! above what kubelet (`kubelet` entry, 64 Ki ranges from 65536) or
//! useradd hand out. The range is cut into 65536-id slots; a container gets
//! one slot by creating `<root>/.userns/<slot>` with `O_EXCL` (atomic: two
//! concurrent creates can never share a slot), holding its id, and frees it
//! on delete. Two tenants therefore never share a host uid.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Ids per container.
pub const SLOT: u32 = 65536;

const DEFAULT_START: u32 = 1_000_000_000;
const DEFAULT_COUNT: u32 = 1 << 30;

/// The host's reserved range for moat, from a subordinate-id file.
pub fn host_range(subid_file: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(subid_file).unwrap_or_default();
    parse_range(&text).unwrap_or((DEFAULT_START, DEFAULT_COUNT))
}

fn parse_range(text: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        if f.next()? != "moat" {
            return None;
        }
        let start = f.next()?.parse().ok()?;
        let count = f.next()?.parse().ok()?;
        Some((start, count))
    })
}

fn dir(root: &Path) -> PathBuf {
    root.join(".userns")
}

/// Take the first free slot for container `id`; returns (slot, uid base,
/// gid base).
pub fn allocate(root: &Path, id: &str) -> Result<(u32, u32, u32)> {
    let (ustart, ucount) = host_range(Path::new("/etc/subuid"));
    let (gstart, gcount) = host_range(Path::new("/etc/subgid"));
    let slots = (ucount / SLOT).min(gcount / SLOT);
    let d = dir(root);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .at("create userns allocation dir", &d)?;
    for slot in 0..slots {
        let p = d.join(slot.to_string());
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(mut f) => {
                f.write_all(id.as_bytes()).at("write userns slot", &p)?;
                return Ok((slot, ustart + slot * SLOT, gstart + slot * SLOT));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).at("allocate userns slot", p),
        }
    }
    Err(Error::Refused(format!(
        "no free user namespace range: all {slots} slots of the moat range are in use"
    )))
}

/// Free a slot.
pub fn release(root: &Path, slot: u32) {
    let _ = std::fs::remove_file(dir(root).join(slot.to_string()));
}

/// Free every slot held by `id` (after a create killed before it could
/// record its slot).
pub fn release_by_id(root: &Path, id: &str) {
    let Ok(rd) = std::fs::read_dir(dir(root)) else {
        return;
    };
    for e in rd.flatten() {
        if std::fs::read(e.path()).is_ok_and(|b| b == id.as_bytes()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subuid_entry_is_used() {
        assert_eq!(
            parse_range("root:100000:65536\nmoat:200000:131072\n"),
            Some((200000, 131072))
        );
        assert_eq!(parse_range("root:100000:65536\n"), None);
    }

    #[test]
    fn slots_are_exclusive_and_freed() {
        let root = std::env::temp_dir().join(format!("moat-userns-{}", std::process::id()));
        let (a, ua, _) = allocate(&root, "a").unwrap();
        let (b, ub, _) = allocate(&root, "b").unwrap();
        assert_ne!(a, b);
        assert!(ua.abs_diff(ub) >= SLOT);
        release(&root, a);
        let (c, _, _) = allocate(&root, "c").unwrap();
        assert_eq!(c, a, "a freed slot is reused");
        release_by_id(&root, "b");
        release_by_id(&root, "c");
        assert_eq!(std::fs::read_dir(dir(&root)).unwrap().count(), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
