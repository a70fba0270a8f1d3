//! The state store: one directory per container under `--root`, the state
//! written atomically (tmp + rename), and a per-container `flock` so that two
//! moat processes working on one container cannot race.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const FIFO: &str = "exec.fifo";

/// How far a create got. Written before each host-visible step so that a
/// `delete --force` can undo a create that was SIGKILLed at any instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Creating,
    Created,
}

/// What moat keeps about a container (a superset of runc's `state` output).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/pid/stat), so a recycled pid is
    /// never mistaken for the container's init.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    /// Every cgroup directory this container owns (recorded before creation).
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
    /// The config's cgroupsPath, to reopen the cgroup for kill --all, pause...
    #[serde(default)]
    pub cgroups_path: Option<String>,
    /// Hooks still to run after create (poststart, poststop), as OCI JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The host id range slot the floor gave this container (see userns.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_slot: Option<u32>,
    /// The effective config's seccomp profile is moat's default, left out
    /// of the stored config (5–6 KB of it: a page per container).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_seccomp: bool,
    /// The effective config (floor applied), for `exec`: kept in this file
    /// rather than a config.json of its own, so a container costs one
    /// file (one inode, one page of cache) and not two. Raw, so that
    /// `state`, `list` and `kill` do not parse it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<serde_json::value::RawValue>>,
}

/// The runtime status of a container as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The `--root` directory.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// One container's directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct Locked {
    pub dir: PathBuf,
    pub id: String,
    lock: File,
}

/// Container ids follow runc's rule: `^[\w+-\.]+$`, and never `.` or `..`.
pub fn check_id(id: &str) -> Result<()> {
    // Unlike runc, no leading '.': moat keeps its own files (.cache,
    // .userns) beside the containers in --root.
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "invalid container id format: {id:?}"
        )))
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Make a new container directory: fails if the id exists. The directory
    /// is locked before anyone else can see a state file in it.
    pub fn create(&self, id: &str) -> Result<Locked> {
        check_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .at("create state root", &self.root)?;
        let dir = self.root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(e).at("create state dir", dir),
        }
        let lock = lock_dir(&dir)?;
        Ok(Locked {
            dir,
            id: id.to_string(),
            lock,
        })
    }

    /// Lock an existing container's directory.
    pub fn open(&self, id: &str) -> Result<Locked> {
        let l = self.peek(id)?;
        rustix::fs::flock(&l.lock, rustix::fs::FlockOperation::LockExclusive)
            .at("lock state dir", &l.dir)?;
        // A concurrent delete may have removed it while we waited.
        if !l.dir.exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(l)
    }

    /// Open a container's directory *without* taking its lock, for readers
    /// (`state`, `list`): the state file is replaced atomically, so a
    /// reader never sees a torn write and never waits on a create that is
    /// running slow hooks.
    pub fn peek(&self, id: &str) -> Result<Locked> {
        check_id(id)?;
        let dir = self.root.join(id);
        let lock = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).at("open state dir", dir),
        };
        Ok(Locked {
            dir,
            id: id.to_string(),
            lock,
        })
    }

    /// Ids of all containers, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("read state root", &self.root),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_id(n).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let f = File::open(dir).at("open state dir", dir)?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).at("lock state dir", dir)?;
    Ok(f)
}

impl Locked {
    /// The raw lock fd, for the cloned init to close its inherited copy.
    pub fn lock_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.lock.as_raw_fd()
    }

    pub fn load(&self) -> Result<Option<State>> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Refused(format!("parse {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("read state", path),
        }
    }

    /// Write the state atomically.
    pub fn save(&self, st: &State) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(st).expect("state serializes");
        let mut f = File::create(&tmp).at("write state", &tmp)?;
        f.write_all(&bytes).at("write state", &tmp)?;
        drop(f);
        let dst = self.dir.join(STATE_FILE);
        std::fs::rename(&tmp, &dst).at("write state", dst)
    }

    /// Remove the whole directory (the lock goes with it).
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).at("remove state dir", &self.dir),
        }
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(FIFO)
    }
}

/// Start time (in clock ticks since boot) of a process, or None if the
/// process does not exist or is a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parens: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3 (state); starttime is field 22.
    fields.nth(18)?.parse().ok()
}

impl State {
    /// Is the recorded init still the same live process?
    pub fn init_alive(&self) -> bool {
        self.pid > 0 && proc_start_time(self.pid) == Some(self.pid_start)
    }

    /// The status runc would report.
    pub fn status(&self, dir: &Path, frozen: impl FnOnce() -> bool) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.phase == Phase::Creating {
            return Status::Creating;
        }
        if dir.join(FIFO).exists() {
            return Status::Created;
        }
        if frozen() {
            return Status::Paused;
        }
        Status::Running
    }
}

/// RFC 3339 UTC time with nanoseconds, as Go's `time.Time` marshals.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_868_400, 5), "2026-11-28T12:20:00.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn ids() {
        assert!(check_id("abc-1_2.x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x", ".userns"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn store_create_twice_and_lock() {
        let t = std::env::temp_dir().join(format!("moat-state-test-{}", std::process::id()));
        let s = Store::new(&t);
        let l = s.create("c1").unwrap();
        assert!(matches!(s.create("c1"), Err(Error::Exists(_))));
        assert_eq!(s.ids().unwrap(), vec!["c1".to_string()]);
        l.remove().unwrap();
        assert!(matches!(s.open("c1"), Err(Error::NotFound(_))));
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn own_start_time_is_found() {
        let me = std::process::id() as i32;
        assert!(proc_start_time(me).is_some());
        assert!(proc_start_time(i32::MAX).is_none());
    }
}
