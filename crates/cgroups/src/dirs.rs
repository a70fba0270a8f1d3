//! The directories of one cgroup across hierarchies, and which of them it owns.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fsutil;
use crate::path::CgPath;
use crate::root::Hierarchy;
use crate::Error;

/// One hierarchy's directory for this cgroup.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub mount: PathBuf,
    pub leaf: PathBuf,
    /// v1 controllers; empty for the unified hierarchy.
    pub controllers: Vec<String>,
}

impl Dir {
    /// `recorded`: the dirs the state recorded at create. A relative path
    /// is resolved against the *calling* process's own cgroup, which for
    /// `delete`, `pause` or `update` may not be the one `create` ran in: the
    /// leaf recorded under this hierarchy wins over a fresh resolution.
    pub(crate) fn new(
        h: &Hierarchy,
        p: &CgPath,
        recorded: Option<&[PathBuf]>,
    ) -> Result<Dir, Error> {
        let known = recorded.into_iter().flatten().find(|r| {
            !p.absolute
                && r.starts_with(&h.mount)
                && r.as_path() != h.mount.as_path()
                && r.ends_with(&p.rel)
        });
        if let Some(leaf) = known {
            return Ok(Dir {
                mount: h.mount.clone(),
                leaf: leaf.clone(),
                controllers: h.controllers.clone(),
            });
        }
        let base = if p.absolute {
            h.mount.clone()
        } else {
            h.own_dir()?
        };
        Ok(Dir {
            mount: h.mount.clone(),
            leaf: base.join(&p.rel),
            controllers: h.controllers.clone(),
        })
    }
}

/// The set of dirs and the subset we own (will remove on destroy).
#[derive(Debug)]
pub(crate) struct Dirs {
    pub dirs: Vec<Dir>,
    owned: Mutex<Vec<PathBuf>>,
}

impl Dirs {
    pub(crate) fn new(dirs: Vec<Dir>, recorded: Option<&[PathBuf]>) -> Dirs {
        let mut owned = Vec::new();
        for d in &dirs {
            for p in fsutil::missing_chain(&d.mount, &d.leaf) {
                push_unique(&mut owned, p);
            }
            if let Some(rec) = recorded {
                for r in rec {
                    if d.leaf.starts_with(r) && r.starts_with(&d.mount) && r != &d.mount {
                        push_unique(&mut owned, r.clone());
                    }
                }
            }
        }
        Dirs {
            dirs,
            owned: Mutex::new(owned),
        }
    }

    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        let mut v = self.owned.lock().unwrap_or_else(|e| e.into_inner()).clone();
        v.sort_by_key(|p| p.components().count()); // stable: hierarchy order kept per depth
        v
    }

    /// mkdir -p every leaf; returns the dirs made (shallowest first, per hierarchy).
    pub(crate) fn create(&self) -> Result<Vec<PathBuf>, Error> {
        let mut all = Vec::new();
        for d in &self.dirs {
            let made = fsutil::mkdir_chain(&d.mount, &d.leaf)?;
            let mut owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
            for m in &made {
                push_unique(&mut owned, m.clone());
            }
            all.extend(made);
        }
        Ok(all)
    }

    /// [`crate::Cgroup::enter`] for the v1 dirs (controllers named); the unified dir is
    /// left to clone3.
    pub(crate) fn enter(&self) -> Result<crate::Entered, Error> {
        let own = std::fs::read_to_string("/proc/thread-self/cgroup")
            .map_err(|e| Error::io("read", Path::new("/proc/thread-self/cgroup"), e))?;
        let mut entered = crate::Entered {
            origins: Vec::new(),
        };
        for d in self.dirs.iter().filter(|d| !d.controllers.is_empty()) {
            let path = own.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                let mine: Vec<&str> = ctrls.split(',').collect();
                (d.controllers.iter().all(|c| mine.contains(&c.as_str()))
                    && mine.len() == d.controllers.len())
                .then_some(path)
            });
            let Some(path) = path else {
                // Not in this hierarchy's list: cannot come back; undo and refuse.
                let _ = crate::leave(&entered);
                return Err(Error::io(
                    "find own cgroup of",
                    &d.mount,
                    std::io::Error::from_raw_os_error(2),
                ));
            };
            let origin = d.mount.join(path.trim_start_matches('/'));
            if let Err(e) = fsutil::write(&d.leaf, "tasks", "0") {
                let _ = crate::leave(&entered);
                return Err(e);
            }
            entered.origins.push(origin);
        }
        Ok(entered)
    }

    /// The unified (cgroup2) leaf of a hybrid layout.
    pub(crate) fn unified_leaf(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.is_empty())
            .map(|d| d.leaf.as_path())
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<(), Error> {
        let s = pid.to_string();
        for d in &self.dirs {
            fsutil::write(&d.leaf, "cgroup.procs", &s)?;
        }
        Ok(())
    }

    /// Deepest first; leaves retried on EBUSY, parents removed only if empty. Keeps going
    /// after an error and returns the first one.
    pub(crate) fn destroy(&self) -> Result<(), Error> {
        let mut v = self.paths();
        v.reverse();
        let mut first = None;
        for p in &v {
            let is_leaf = self.dirs.iter().any(|d| &d.leaf == p);
            let r = if is_leaf {
                fsutil::rmdir_leaf(p)
            } else {
                fsutil::rmdir_parent(p)
            };
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    pub(crate) fn find(&self, ctrl: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == ctrl))
            .map(|d| d.leaf.as_path())
    }
}

fn push_unique(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}
