//! `moat spec`: the default config.json template, byte-for-byte identical to
//! what runc 1.1 writes for `runc spec` and `runc spec --rootless`.
//!
//! runc builds the template from `specconv.Example()` (and, for `--rootless`,
//! `specconv.ToRootless()`), then writes `json.MarshalIndent(spec, "", "\t")`
//! with no trailing newline. We mirror that with private serde structs whose
//! field order is the Go struct field order (so the bytes do not depend on
//! whether serde_json's `preserve_order` feature is on anywhere in the build)
//! and serde_json's pretty printer with a tab indent.
//!
//! `--rootless` maps container uid/gid 0 onto the caller's *effective* uid and
//! gid (`os.Geteuid()` / `os.Getegid()` in runc). This crate does no syscalls,
//! so the caller passes them in.

use serde::Serialize;

/// The `ociVersion` runc 1.1 writes (and the highest it accepts).
pub const OCI_VERSION: &str = "1.0.2-dev";

/// The default spec as a JSON value (for callers that want to edit it).
///
/// `uid`/`gid` are the host ids the container's root is mapped to and are
/// only used when `rootless` is true. Note that a `Value` may not keep the
/// key order; use [`default_spec_json`] for the bytes runc writes.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> serde_json::Value {
    serde_json::to_value(build(rootless, uid, gid)).expect("template serializes")
}

/// Exactly the bytes `runc spec` (or `runc spec --rootless`, run with
/// effective ids `uid`/`gid`) writes to `config.json`: tab indentation,
/// runc's key order, no trailing newline.
pub fn default_spec_json(rootless: bool, uid: u32, gid: u32) -> String {
    to_tab_indented(&build(rootless, uid, gid))
}

fn to_tab_indented<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(3 * 1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("template serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

// ---- the subset of the runtime-spec Go structs the template uses, in Go
// field order; `omitempty` fields are Options skipped when None.

#[derive(Serialize)]
struct Spec {
    #[serde(rename = "ociVersion")]
    oci_version: &'static str,
    process: Process,
    root: Root,
    hostname: &'static str,
    mounts: Vec<Mount>,
    linux: Linux,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    terminal: bool,
    user: User,
    args: Vec<&'static str>,
    env: Vec<&'static str>,
    cwd: &'static str,
    capabilities: Capabilities,
    rlimits: Vec<Rlimit>,
    no_new_privileges: bool,
}

#[derive(Serialize)]
struct User {
    uid: u32,
    gid: u32,
}

#[derive(Serialize)]
struct Capabilities {
    bounding: Vec<&'static str>,
    effective: Vec<&'static str>,
    permitted: Vec<&'static str>,
    ambient: Vec<&'static str>,
}

#[derive(Serialize)]
struct Rlimit {
    #[serde(rename = "type")]
    kind: &'static str,
    hard: u64,
    soft: u64,
}

#[derive(Serialize)]
struct Root {
    path: &'static str,
    readonly: bool,
}

#[derive(Serialize)]
struct Mount {
    destination: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Vec<&'static str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Linux {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    namespaces: Vec<Namespace>,
    masked_paths: Vec<&'static str>,
    readonly_paths: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdMapping {
    #[serde(rename = "containerID")]
    container_id: u32,
    #[serde(rename = "hostID")]
    host_id: u32,
    size: u32,
}

#[derive(Serialize)]
struct Resources {
    devices: Vec<DeviceCgroup>,
}

#[derive(Serialize)]
struct DeviceCgroup {
    allow: bool,
    access: &'static str,
}

#[derive(Serialize)]
struct Namespace {
    #[serde(rename = "type")]
    kind: &'static str,
}

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// `specconv.Example()`, then `specconv.ToRootless()` when asked.
fn build(rootless: bool, uid: u32, gid: u32) -> Spec {
    let caps = || CAPS.to_vec();
    let mut spec = Spec {
        oci_version: OCI_VERSION,
        process: Process {
            terminal: true,
            user: User { uid: 0, gid: 0 },
            args: vec!["sh"],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            cwd: "/",
            capabilities: Capabilities {
                bounding: caps(),
                effective: caps(),
                permitted: caps(),
                ambient: caps(),
            },
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE",
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
        },
        root: Root {
            path: "rootfs",
            readonly: true,
        },
        hostname: "runc",
        mounts: vec![
            mount("/proc", "proc", "proc", None),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                Some(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                Some(&[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ]),
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                Some(&["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                Some(&["nosuid", "noexec", "nodev"]),
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                Some(&["nosuid", "noexec", "nodev", "ro"]),
            ),
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                Some(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
            ),
        ],
        linux: Linux {
            uid_mappings: None,
            gid_mappings: None,
            resources: Some(Resources {
                devices: vec![DeviceCgroup {
                    allow: false,
                    access: "rwm",
                }],
            }),
            namespaces: ["pid", "network", "ipc", "uts", "mount"]
                .into_iter()
                .map(|kind| Namespace { kind })
                .collect(),
            masked_paths: vec![
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            readonly_paths: vec![
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    };
    if rootless {
        to_rootless(&mut spec, uid, gid);
    }
    spec
}

fn mount(
    destination: &'static str,
    kind: &'static str,
    source: &'static str,
    options: Option<&[&'static str]>,
) -> Mount {
    Mount {
        destination,
        kind,
        source,
        options: options.map(<[_]>::to_vec),
    }
}

/// runc 1.1 `specconv.ToRootless`: drop the network and user namespaces and
/// append a fresh user namespace; map 0 to the caller's euid/egid (size 1);
/// replace `/sys` with a read-only rbind of the host's; strip `uid=`/`gid=`
/// mount options; drop `linux.resources`.
fn to_rootless(spec: &mut Spec, uid: u32, gid: u32) {
    let linux = &mut spec.linux;
    linux
        .namespaces
        .retain(|ns| ns.kind != "network" && ns.kind != "user");
    linux.namespaces.push(Namespace { kind: "user" });
    let map = |host_id| {
        Some(vec![IdMapping {
            container_id: 0,
            host_id,
            size: 1,
        }])
    };
    linux.uid_mappings = map(uid);
    linux.gid_mappings = map(gid);
    linux.resources = None;

    for m in &mut spec.mounts {
        if m.destination == "/sys" {
            *m = mount(
                "/sys",
                "none",
                "/sys",
                Some(&["rbind", "nosuid", "noexec", "nodev", "ro"]),
            );
            continue;
        }
        // Go: `var options []string` + append, so a list that ends up empty
        // becomes nil and is omitted. None of the template's lists do.
        if let Some(opts) = &mut m.options {
            opts.retain(|o| !o.starts_with("gid=") && !o.starts_with("uid="));
            if opts.is_empty() {
                m.options = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    const RUNC: &str = "/usr/sbin/runc";
    const SETPRIV: &str = "/usr/bin/setpriv";
    const FIXTURE: &str = include_str!("../tests/fixtures/runc-1.1.5-spec.json");
    const FIXTURE_ROOTLESS_0_0: &str =
        include_str!("../tests/fixtures/runc-1.1.5-spec-rootless-uid0-gid0.json");
    /// `setpriv --reuid=1234 --regid=5678 --clear-groups runc spec --rootless`
    const FIXTURE_ROOTLESS_1234_5678: &str =
        include_str!("../tests/fixtures/runc-1.1.5-spec-rootless-uid1234-gid5678.json");

    #[test]
    fn matches_captured_runc_spec() {
        assert_eq!(default_spec_json(false, 0, 0), FIXTURE);
        // ids are ignored without --rootless
        assert_eq!(default_spec_json(false, 1000, 1000), FIXTURE);
    }

    #[test]
    fn matches_captured_runc_spec_rootless() {
        assert_eq!(default_spec_json(true, 0, 0), FIXTURE_ROOTLESS_0_0);
    }

    #[test]
    fn rootless_uses_given_ids() {
        let v = default_spec(true, 1234, 5678);
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1234);
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 5678);
        assert_eq!(v["linux"]["uidMappings"][0]["containerID"], 0);
        assert_eq!(v["linux"]["uidMappings"][0]["size"], 1);
        assert_eq!(
            default_spec_json(true, 1234, 5678),
            FIXTURE_ROOTLESS_1234_5678
        );
    }

    #[test]
    fn tab_indented_no_trailing_newline() {
        for rootless in [false, true] {
            let s = default_spec_json(rootless, 0, 0);
            assert!(s.starts_with("{\n\t\"ociVersion\": \"1.0.2-dev\",\n"));
            assert!(s.ends_with("\n}"));
            assert!(!s.contains("  "), "no space indentation");
        }
    }

    #[test]
    fn value_and_json_agree() {
        for rootless in [false, true] {
            let parsed: serde_json::Value =
                serde_json::from_str(&default_spec_json(rootless, 7, 8)).unwrap();
            assert_eq!(parsed, default_spec(rootless, 7, 8));
        }
    }

    #[test]
    fn parses_as_oci_spec() {
        for rootless in [false, true] {
            let s: oci_spec::runtime::Spec =
                serde_json::from_str(&default_spec_json(rootless, 1000, 1000)).unwrap();
            assert_eq!(s.version(), OCI_VERSION);
            let ns = s.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
            assert_eq!(ns.len(), 5);
        }
    }

    /// Effective uid and gid from /proc/self/status (no libc in this crate).
    fn effective_ids() -> Option<(u32, u32)> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| -> Option<u32> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            // real, effective, saved, fs
            line.split_whitespace().nth(2)?.parse().ok()
        };
        Some((field("Uid:")?, field("Gid:")?))
    }

    /// `runc spec [--rootless]` into a fresh tempdir; `as_ids` runs runc with
    /// those effective ids via setpriv(1) (needs root).
    fn run_runc_spec(rootless: bool, as_ids: Option<(u32, u32)>) -> Option<String> {
        if !Path::new(RUNC).exists() {
            eprintln!("note: {RUNC} not found; skipping live comparison with runc");
            return None;
        }
        let (u, g) = as_ids.unwrap_or((u32::MAX, u32::MAX));
        let dir = std::env::temp_dir().join(format!(
            "moat-spec-template-{}-{rootless}-{u}-{g}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = match as_ids {
            None => Command::new(RUNC),
            Some((uid, gid)) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
                let mut c = Command::new(SETPRIV);
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(RUNC);
                c
            }
        };
        cmd.arg("spec").arg("--bundle").arg(&dir);
        if rootless {
            cmd.arg("--rootless");
        }
        let out = cmd.output().expect("run runc spec");
        assert!(out.status.success(), "runc spec failed: {out:?}");
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Some(text)
    }

    #[test]
    fn matches_live_runc_spec() {
        if let Some(runc) = run_runc_spec(false, None) {
            assert_eq!(default_spec_json(false, 0, 0), runc);
        }
    }

    #[test]
    fn matches_live_runc_spec_rootless() {
        let Some((uid, gid)) = effective_ids() else {
            eprintln!("note: cannot read /proc/self/status; skipping");
            return;
        };
        if let Some(runc) = run_runc_spec(true, None) {
            assert_eq!(default_spec_json(true, uid, gid), runc);
        }
    }

    #[test]
    fn matches_live_runc_spec_rootless_nonzero_ids() {
        if effective_ids().map(|(u, _)| u) != Some(0) || !Path::new(SETPRIV).exists() {
            eprintln!("note: needs root and {SETPRIV}; skipping live non-root comparison");
            return;
        }
        if let Some(runc) = run_runc_spec(true, Some((1234, 5678))) {
            assert_eq!(default_spec_json(true, 1234, 5678), runc);
        }
    }
}
