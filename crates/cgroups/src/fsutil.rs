//! Small file helpers: every failure becomes an [`Error::Io`] naming the step and the path.
//!
//! Control files are opened without `O_CREAT`: a missing file means a missing controller
//! (or an old kernel), never something we should create.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crate::Error;

/// Write `val` to `dir/file` in one write(2), like runc's `cgroups.WriteFile`.
pub(crate) fn write(dir: &Path, file: &str, val: &str) -> Result<(), Error> {
    let path = dir.join(file);
    write_path(&path, val)
}

pub(crate) fn write_path(path: &Path, val: &str) -> Result<(), Error> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    // The kernel consumes a cgroup control write in one go; a short write is an error.
    match f.write(val.as_bytes()) {
        Ok(n) if n == val.len() => Ok(()),
        Ok(_) => Err(Error::io("write", path, io::ErrorKind::WriteZero.into())),
        Err(e) => Err(Error::io("write", path, e)),
    }
}

/// Like [`write`], but a missing file is not an error (returns `Ok(false)`).
pub(crate) fn write_if_exists(dir: &Path, file: &str, val: &str) -> Result<bool, Error> {
    match write(dir, file, val) {
        Ok(()) => Ok(true),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| Error::io("read", path, e))
}

/// Reads a single number; "max" reads as `u64::MAX` (as runc does).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    let s = read(dir, file)?;
    parse_u64(s.trim()).ok_or_else(|| Error::Parse {
        what: dir.join(file).display().to_string(),
        detail: format!("not a number: {:?}", s.trim()),
    })
}

/// Like [`read_u64`] but a missing file reads as 0.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<u64, Error> {
    match read_u64(dir, file) {
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(0),
        r => r,
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events ...).
pub(crate) fn parse_flat_keyed(s: &str) -> impl Iterator<Item = (&str, u64)> {
    s.lines().filter_map(|l| {
        let mut it = l.split_whitespace();
        let k = it.next()?;
        let v = parse_u64(it.next()?)?;
        Some((k, v))
    })
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// `mkdir -p leaf` below `mount` (which must exist); returns the directories this call made,
/// shallowest first.
pub(crate) fn mkdir_chain(mount: &Path, leaf: &Path) -> Result<Vec<PathBuf>, Error> {
    let rel = leaf.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut made = Vec::new();
    let mut cur = mount.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::create_dir(&cur) {
            Ok(()) => made.push(cur.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && cur.is_dir() => {}
            Err(e) => return Err(Error::io("mkdir", cur, e)),
        }
    }
    Ok(made)
}

/// The directories between `mount` (exclusive) and `leaf` (inclusive) that do not exist yet,
/// plus `leaf` itself; shallowest first.
pub(crate) fn missing_chain(mount: &Path, leaf: &Path) -> Vec<PathBuf> {
    let mut out = vec![leaf.to_path_buf()];
    let mut cur = leaf.parent();
    while let Some(p) = cur {
        if p == mount || !p.starts_with(mount) || p.exists() {
            break;
        }
        out.push(p.to_path_buf());
        cur = p.parent();
    }
    out.reverse();
    out
}

const EBUSY: i32 = 16;
const ENOTEMPTY: i32 = 39;

/// rmdir a cgroup leaf: ENOENT is success; EBUSY is retried briefly (tasks being reaped);
/// child cgroups (made by the container itself) are removed first, as runc's RemovePath does.
pub(crate) fn rmdir_leaf(path: &Path) -> Result<(), Error> {
    let mut delay = Duration::from_millis(2);
    let mut last = None;
    for _ in 0..8 {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                if let Ok(rd) = fs::read_dir(path) {
                    for ent in rd.flatten() {
                        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            rmdir_leaf(&ent.path())?;
                        }
                    }
                }
                let busy = matches!(e.raw_os_error(), Some(EBUSY) | Some(ENOTEMPTY));
                last = Some(e);
                if !busy {
                    break;
                }
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
        }
    }
    Err(Error::io(
        "rmdir",
        path,
        last.unwrap_or_else(|| io::Error::from_raw_os_error(EBUSY)),
    ))
}

/// rmdir a parent we created: one try; busy/non-empty (shared with another container) or gone
/// is fine.
pub(crate) fn rmdir_parent(path: &Path) -> Result<(), Error> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(EBUSY) | Some(ENOTEMPTY)) => Ok(()),
        Err(e) => Err(Error::io("rmdir", path, e)),
    }
}

/// Reads cgroup.procs.
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>, Error> {
    let s = read(dir, "cgroup.procs")?;
    Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Sleep helper used by the freezer loops.
pub(crate) fn nap(ms: u64) {
    sleep(Duration::from_millis(ms));
}
