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

use rustix::fs::XattrFlags;

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
    // Start the scan at a random slot: with many containers a scan from 0
    // would try every taken slot first.
    let start = random_u32() % slots.max(1);
    for k in 0..slots {
        let slot = (start + k) % slots;
        let p = d.join(slot.to_string());
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(mut f) => {
                // The owner in an xattr (kept in the inode on ext4 and tmpfs)
                // rather than the file's data: no page per container.
                if rustix::fs::fsetxattr(&f, OWNER_XATTR, id.as_bytes(), XattrFlags::CREATE)
                    .is_err()
                {
                    f.write_all(id.as_bytes()).at("write userns slot", &p)?;
                }
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
        if slot_owner(&e.path()).is_some_and(|b| b == id.as_bytes()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

const OWNER_XATTR: &str = "user.moat.id";

/// The id of the container holding the slot file `p`.
pub fn slot_owner(p: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1024];
    match rustix::fs::getxattr(p, OWNER_XATTR, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => std::fs::read(p).ok(),
    }
}

fn random_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // splitmix-style mixing of the pid and the clock's nanoseconds.
    let mut x = (u64::from(std::process::id()) << 32) ^ u64::from(t);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as u32
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
        assert_eq!(slot_owner(&dir(&root).join(a.to_string())).unwrap(), b"a");
        release(&root, a);
        assert!(!dir(&root).join(a.to_string()).exists(), "slot freed");
        release_by_id(&root, "b");
        assert!(!dir(&root).join(b.to_string()).exists(), "slot freed by id");
        assert_eq!(std::fs::read_dir(dir(&root)).unwrap().count(), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
