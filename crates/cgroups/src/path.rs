//! cgroupsPath semantics of runc's cgroupfs driver (runc 1.1, checked on this host):
//!
//! * `None`/empty: the container id, *relative* to the runtime's own cgroup in each hierarchy
//!   (runc sets `Name = id`, `Parent = ""`, and relative paths hang below
//!   `/proc/self/cgroup`'s entry).
//! * absolute `/a/b`: `<mount>/a/b` in every hierarchy.
//! * relative `a/b`: `<mount>/<own cgroup>/a/b` in every hierarchy.
//! * runc clamps `..` lexically (`CleanPath`: `../../x` becomes `x`, `/a/../../b` becomes
//!   `/b`); moat instead rejects any `..` that would climb above the base, since a clamp
//!   silently puts the container somewhere other than where the config said.
//! * `slice:prefix:name` (systemd driver form) is an error here: there is no systemd driver.

use std::path::PathBuf;

use crate::Error;

/// A parsed cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgPath {
    /// Relative to the hierarchy's mount point (true) or to the runtime's own cgroup (false).
    pub absolute: bool,
    /// Normalised, without leading '/', never empty, no `.`/`..` components.
    pub rel: PathBuf,
}

pub(crate) fn parse(cgroups_path: Option<&str>, container_id: &str) -> Result<CgPath, Error> {
    let given = cgroups_path.unwrap_or("");
    if given.is_empty() {
        if container_id.is_empty()
            || container_id == "."
            || container_id == ".."
            || container_id.contains('/')
            || container_id.contains('\0')
        {
            return Err(Error::InvalidPath {
                path: container_id.to_owned(),
                reason: "the container id is not a valid cgroup directory name",
            });
        }
        return Ok(CgPath {
            absolute: false,
            rel: PathBuf::from(container_id),
        });
    }
    if is_systemd_form(given) {
        return Err(Error::SystemdPath(given.to_owned()));
    }
    if given.contains('\0') {
        return Err(Error::InvalidPath {
            path: given.to_owned(),
            reason: "contains a NUL byte",
        });
    }
    let absolute = given.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in given.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::InvalidPath {
                        path: given.to_owned(),
                        reason: "'..' escapes the cgroup root (runc would clamp it; moat refuses)",
                    });
                }
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::InvalidPath {
            path: given.to_owned(),
            reason: "names the cgroup root itself",
        });
    }
    Ok(CgPath {
        absolute,
        rel: parts.iter().collect(),
    })
}

/// `slice:prefix:name`: three colon-separated fields and no '/' (runc's systemd driver form).
fn is_systemd_form(p: &str) -> bool {
    !p.contains('/') && p.split(':').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: Option<&str>) -> (bool, String) {
        let c = parse(p, "ctr").unwrap();
        (c.absolute, c.rel.display().to_string())
    }

    #[test]
    fn semantics() {
        assert_eq!(ok(None), (false, "ctr".into()));
        assert_eq!(ok(Some("")), (false, "ctr".into()));
        assert_eq!(ok(Some("/a/b")), (true, "a/b".into()));
        assert_eq!(ok(Some("a//./b/")), (false, "a/b".into()));
        assert_eq!(ok(Some("/a/../b")), (true, "b".into()));
        assert_eq!(ok(Some("a/x/../b")), (false, "a/b".into()));
    }

    #[test]
    fn rejects() {
        for p in ["..", "../x", "/a/../../b", "/", "/..", "a/../.."] {
            assert!(
                matches!(parse(Some(p), "c"), Err(Error::InvalidPath { .. })),
                "{p}"
            );
        }
        let e = parse(Some("system.slice:moat:abc"), "c").unwrap_err();
        assert!(matches!(e, Error::SystemdPath(_)));
        assert!(e
            .to_string()
            .contains("systemd cgroup driver is not available"));
        assert!(matches!(
            parse(Some(":moat:abc"), "c"),
            Err(Error::SystemdPath(_))
        ));
        for id in ["", "..", "a/b"] {
            assert!(parse(None, id).is_err(), "{id}");
        }
    }
}
