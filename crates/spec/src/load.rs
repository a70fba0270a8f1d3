//! Loading `config.json` from a bundle and validating it before anything is
//! created on the host. Every error names the step and the path.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// A validated bundle: the parsed spec plus the canonical bundle and rootfs
/// paths (absolute, symlinks resolved on the host side, where the operator —
/// not the tenant — controls them).
#[derive(Debug, Clone)]
pub struct Config {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("validate {path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// Read and validate `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Config, Error> {
    let bundle = std::fs::canonicalize(bundle).map_err(|source| Error::Io {
        step: "open bundle",
        path: bundle.to_path_buf(),
        source,
    })?;
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        step: "read config",
        path: path.clone(),
        source,
    })?;
    let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    let rootfs = validate(&spec, &bundle, &path)?;
    Ok(Config {
        spec,
        bundle,
        rootfs,
    })
}

fn invalid(path: &Path, msg: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// `path` must be absolute and free of `..` components.
pub fn check_container_path(p: &Path) -> Result<(), String> {
    if !p.is_absolute() {
        return Err(format!("{} is not an absolute path", p.display()));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{} contains '..'", p.display()));
    }
    Ok(())
}

/// Checks that do not touch the host, except the rootfs lookup.
pub fn validate(spec: &Spec, bundle: &Path, cfg: &Path) -> Result<PathBuf, Error> {
    let v = spec.version();
    let mut parts = v.split('.');
    if parts.next() != Some("1") || parts.next().and_then(|m| m.parse::<u32>().ok()).is_none() {
        return Err(invalid(
            cfg,
            format!("unsupported ociVersion {v:?}: moat supports 1.x"),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid(cfg, "root must be specified"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|source| Error::Io {
        step: "open rootfs",
        path: rootfs.clone(),
        source,
    })?;
    if !rootfs.is_dir() {
        return Err(invalid(&rootfs, "rootfs is not a directory".to_string()));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid(cfg, "process must be specified"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid(cfg, "process.args must not be empty"));
    }
    if let Err(m) = check_container_path(process.cwd()) {
        return Err(invalid(cfg, format!("process.cwd: {m}")));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid(cfg, "linux section must be specified"))?;

    let mut seen = HashSet::new();
    let mut new_ns = HashSet::new();
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                cfg,
                format!("namespace {} specified more than once", ns.typ()),
            ));
        }
        match ns.path() {
            Some(p) => {
                if !p.is_absolute() {
                    return Err(invalid(
                        cfg,
                        format!(
                            "namespace {} path {} is not absolute",
                            ns.typ(),
                            p.display()
                        ),
                    ));
                }
                std::fs::metadata(p).map_err(|source| Error::Io {
                    step: "open namespace path",
                    path: p.clone(),
                    source,
                })?;
            }
            None => {
                new_ns.insert(ns.typ());
            }
        }
    }
    let has = |t| seen.contains(&t);
    if new_ns.contains(&LinuxNamespaceType::User)
        && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
            || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
    {
        return Err(invalid(
            cfg,
            "a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    if !has(LinuxNamespaceType::User)
        && (linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()))
    {
        return Err(invalid(
            cfg,
            "uid/gid mappings are given but no user namespace is configured",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            cfg,
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            cfg,
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new_ns.contains(&LinuxNamespaceType::Time)
    {
        return Err(invalid(cfg, "timeOffsets need a new time namespace"));
    }
    for (key, _) in linux.sysctl().iter().flatten() {
        check_sysctl(key, &has).map_err(|m| invalid(cfg, m))?;
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        check_container_path(m.destination())
            .map_err(|e| invalid(cfg, format!("mount destination: {e}")))?;
    }
    for d in linux.devices().as_deref().unwrap_or_default() {
        check_container_path(d.path()).map_err(|e| invalid(cfg, format!("device: {e}")))?;
    }
    for p in linux
        .masked_paths()
        .iter()
        .flatten()
        .chain(linux.readonly_paths().iter().flatten())
    {
        check_container_path(Path::new(p))
            .map_err(|e| invalid(cfg, format!("masked/readonly path: {e}")))?;
    }
    if let Some(p) = linux.rootfs_propagation() {
        if !matches!(
            p.as_str(),
            "" | "shared"
                | "slave"
                | "private"
                | "rshared"
                | "rslave"
                | "rprivate"
                | "unbindable"
                | "runbindable"
        ) {
            return Err(invalid(cfg, format!("invalid rootfsPropagation {p:?}")));
        }
    }
    Ok(rootfs)
}

/// runc's rule: a sysctl is only settable if the namespace it belongs to is
/// the container's own.
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), String> {
    if key.contains("..") || key.starts_with('/') || key.contains('\0') {
        return Err(format!("sysctl {key:?} is not a valid name"));
    }
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has(LinuxNamespaceType::Ipc) {
            return Err(format!(
                "sysctl {key:?} is not allowed in the host's ipc namespace"
            ));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has(LinuxNamespaceType::Network) {
            return Err(format!(
                "sysctl {key:?} is not allowed in the host's network namespace"
            ));
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !has(LinuxNamespaceType::Uts) {
            return Err(format!(
                "sysctl {key:?} is not allowed in the host's uts namespace"
            ));
        }
        return Ok(());
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert!(check_container_path(Path::new("/a/b")).is_ok());
        assert!(check_container_path(Path::new("a/b")).is_err());
        assert!(check_container_path(Path::new("/a/../../etc")).is_err());
    }

    #[test]
    fn sysctl_namespaces() {
        let all = |_| true;
        let none = |_| false;
        assert!(check_sysctl("net.ipv4.ip_forward", &all).is_ok());
        assert!(check_sysctl("net.ipv4.ip_forward", &none).is_err());
        assert!(check_sysctl("kernel.shm_rmid_forced", &all).is_ok());
        assert!(check_sysctl("vm.overcommit_memory", &all).is_err());
        assert!(check_sysctl("net/../../x", &all).is_err());
    }
}
