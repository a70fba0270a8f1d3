//! `moat features`: the runc-schema JSON document of what moat supports.
//!
//! Schema: runc 1.1's `types/features.Features` (experimental in runc too),
//! same keys in the same order, printed like runc prints it
//! (`json.MarshalIndent(feat, "", "    ")` + newline: four-space indent,
//! trailing `\n`). Lists follow runc's conventions: namespaces, mount
//! options, seccomp actions/operators/archs sorted; capabilities in kernel
//! (bit) order.
//!
//! The *values* describe moat, not runc:
//! * `ociVersionMax` is the runtime-spec version of the parser moat loads
//!   config.json with (oci-spec's `VERSION`, 1.1.0), not runc 1.1's 1.0.2-dev;
//! * namespaces include `time` (runc 1.1 does not support it);
//! * `mountOptions` lists only the options moat's mount-option parser
//!   (moat-container `mountopts`) recognizes today. The recursive `r*`
//!   attributes (`rro`, `rnosuid`, ...), `acl`/`noacl` and `tmpcopyup`, all
//!   in runc 1.1's list, are not there yet; add them here when they land;
//! * seccomp archs are those libseccomp 2.5 knows (runc's 16 plus parisc,
//!   parisc64, riscv64);
//! * AppArmor, SELinux, and the systemd cgroup drivers: not supported;
//! * annotations use the `io.moat.` prefix. The libseccomp version key is
//!   present only when the caller (which links libseccomp) passes the runtime
//!   version in; this crate does not link libseccomp.

use std::collections::BTreeMap;

use serde::Serialize;

/// Annotation: moat's version (the crate version moat was built from).
pub const ANNOTATION_VERSION: &str = "io.moat.version";
/// Annotation: whether checkpoint/restore is available (it is not).
pub const ANNOTATION_CHECKPOINT: &str = "io.moat.checkpoint.enabled";
/// Annotation: the libseccomp runtime version (same key runc uses).
pub const ANNOTATION_LIBSECCOMP: &str = "io.github.seccomp.libseccomp.version";

/// Oldest `ociVersion` moat accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The 6 OCI hooks, in lifecycle order (as runc lists them); moat runs all.
pub const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options moat's parser recognizes, sorted.
pub const MOUNT_OPTIONS: [&str; 41] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// All 8 Linux namespace types, sorted.
pub const NAMESPACES: [&str; 8] = [
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// Every capability the kernel defines (bits 0..=40), in bit order.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Seccomp actions moat-seccomp translates, sorted.
pub const SECCOMP_ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Seccomp argument comparison operators, sorted.
pub const SECCOMP_OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Seccomp architectures libseccomp 2.5 supports, sorted.
pub const SECCOMP_ARCHS: [&str; 19] = [
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// The features document without the libseccomp annotation, as printed by
/// `moat features` (four-space indent, trailing newline).
pub fn features_json() -> String {
    features_json_with_libseccomp(None)
}

/// The features document; `libseccomp_version` (e.g. "2.5.4", from
/// `seccomp_version()` at run time) adds runc's
/// `io.github.seccomp.libseccomp.version` annotation.
pub fn features_json_with_libseccomp(libseccomp_version: Option<&str>) -> String {
    let mut out = Vec::with_capacity(5 * 1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    build(libseccomp_version)
        .serialize(&mut ser)
        .expect("features serialize");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The features document as a JSON value.
pub fn features(libseccomp_version: Option<&str>) -> serde_json::Value {
    serde_json::to_value(build(libseccomp_version)).expect("features serialize")
}

// ---- runc 1.1 types/features, in Go field order.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Features {
    oci_version_min: &'static str,
    oci_version_max: &'static str,
    hooks: &'static [&'static str],
    mount_options: &'static [&'static str],
    linux: Linux,
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Linux {
    namespaces: &'static [&'static str],
    capabilities: &'static [&'static str],
    cgroup: Cgroup,
    seccomp: Seccomp,
    apparmor: Enabled,
    selinux: Enabled,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cgroup {
    v1: bool,
    v2: bool,
    systemd: bool,
    systemd_user: bool,
}

#[derive(Serialize)]
struct Seccomp {
    enabled: bool,
    actions: &'static [&'static str],
    operators: &'static [&'static str],
    archs: &'static [&'static str],
}

#[derive(Serialize)]
struct Enabled {
    enabled: bool,
}

fn build(libseccomp_version: Option<&str>) -> Features {
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_VERSION, env!("CARGO_PKG_VERSION").to_string());
    annotations.insert(ANNOTATION_CHECKPOINT, "false".to_string());
    if let Some(v) = libseccomp_version {
        annotations.insert(ANNOTATION_LIBSECCOMP, v.to_string());
    }
    Features {
        oci_version_min: OCI_VERSION_MIN,
        oci_version_max: oci_spec::runtime::VERSION,
        hooks: &HOOKS,
        mount_options: &MOUNT_OPTIONS,
        linux: Linux {
            namespaces: &NAMESPACES,
            capabilities: &CAPABILITIES,
            cgroup: Cgroup {
                v1: true,
                v2: true,
                systemd: false,
                systemd_user: false,
            },
            seccomp: Seccomp {
                enabled: true,
                actions: &SECCOMP_ACTIONS,
                operators: &SECCOMP_OPERATORS,
                archs: &SECCOMP_ARCHS,
            },
            apparmor: Enabled { enabled: false },
            selinux: Enabled { enabled: false },
        },
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::process::Command;

    const RUNC: &str = "/usr/sbin/runc";
    const RUNC_FIXTURE: &str = include_str!("../tests/fixtures/runc-1.1.5-features.json");

    /// Every key path ("linux.seccomp.archs", ...) in `v`. The children of
    /// `annotations` are free-form (each runtime uses its own names), so it
    /// counts as a leaf.
    fn key_paths(v: &Value) -> BTreeSet<String> {
        fn walk(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
            if let Value::Object(m) = v {
                for (k, child) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.insert(path.clone());
                    if path != "annotations" {
                        walk(&path, child, out);
                    }
                }
            }
        }
        let mut out = BTreeSet::new();
        walk("", v, &mut out);
        out
    }

    /// Same key set, and each key holds the same JSON type.
    fn assert_same_shape(ours: &Value, runc: &Value) {
        assert_eq!(key_paths(ours), key_paths(runc));
        for path in key_paths(runc) {
            let get = |v: &Value| {
                path.split('.')
                    .fold(v.clone(), |v, k| v.get(k).cloned().unwrap_or(Value::Null))
            };
            let (a, b) = (get(ours), get(runc));
            assert_eq!(
                std::mem::discriminant(&a),
                std::mem::discriminant(&b),
                "type of {path}: moat {a} vs runc {b}"
            );
        }
    }

    fn ours() -> Value {
        serde_json::from_str(&features_json()).expect("features_json parses")
    }

    #[test]
    fn parses_and_matches_value() {
        assert_eq!(ours(), features(None));
        let with: Value =
            serde_json::from_str(&features_json_with_libseccomp(Some("2.5.4"))).unwrap();
        assert_eq!(with, features(Some("2.5.4")));
        assert_eq!(with["annotations"][ANNOTATION_LIBSECCOMP], "2.5.4");
        assert!(ours()["annotations"].get(ANNOTATION_LIBSECCOMP).is_none());
    }

    #[test]
    fn same_keys_as_captured_runc() {
        let runc: Value = serde_json::from_str(RUNC_FIXTURE).unwrap();
        assert_same_shape(&ours(), &runc);
        assert_same_shape(&features(Some("2.5.4")), &runc);
    }

    #[test]
    fn same_keys_as_live_runc() {
        if !Path::new(RUNC).exists() {
            eprintln!("note: {RUNC} not found; skipping live comparison with runc");
            return;
        }
        let out = Command::new(RUNC).arg("features").output().unwrap();
        assert!(out.status.success(), "runc features failed: {out:?}");
        let runc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_same_shape(&ours(), &runc);
    }

    /// Render `doc` the way `features_json` renders moat's document.
    fn render(doc: &Features) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        doc.serialize(&mut ser).unwrap();
        out.push(b'\n');
        String::from_utf8(out).unwrap()
    }

    /// Filling our document type with runc's values reproduces runc's
    /// output byte for byte: same key order, indentation, trailing newline.
    #[test]
    fn formatted_like_runc() {
        let runc: Value = serde_json::from_str(RUNC_FIXTURE).unwrap();
        let leak_str = |v: &Value| -> &'static str {
            Box::leak(v.as_str().unwrap().to_string().into_boxed_str())
        };
        let leak_list = |v: &Value| -> &'static [&'static str] {
            Box::leak(
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(leak_str)
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            )
        };
        let flag = |v: &Value| v.as_bool().unwrap();
        let (l, cg, sc) = (
            &runc["linux"],
            &runc["linux"]["cgroup"],
            &runc["linux"]["seccomp"],
        );
        let doc = Features {
            oci_version_min: leak_str(&runc["ociVersionMin"]),
            oci_version_max: leak_str(&runc["ociVersionMax"]),
            hooks: leak_list(&runc["hooks"]),
            mount_options: leak_list(&runc["mountOptions"]),
            linux: Linux {
                namespaces: leak_list(&l["namespaces"]),
                capabilities: leak_list(&l["capabilities"]),
                cgroup: Cgroup {
                    v1: flag(&cg["v1"]),
                    v2: flag(&cg["v2"]),
                    systemd: flag(&cg["systemd"]),
                    systemd_user: flag(&cg["systemdUser"]),
                },
                seccomp: Seccomp {
                    enabled: flag(&sc["enabled"]),
                    actions: leak_list(&sc["actions"]),
                    operators: leak_list(&sc["operators"]),
                    archs: leak_list(&sc["archs"]),
                },
                apparmor: Enabled {
                    enabled: flag(&l["apparmor"]["enabled"]),
                },
                selinux: Enabled {
                    enabled: flag(&l["selinux"]["enabled"]),
                },
            },
            annotations: runc["annotations"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        leak_str(&Value::from(k.as_str())),
                        v.as_str().unwrap().into(),
                    )
                })
                .collect(),
        };
        assert_eq!(render(&doc), RUNC_FIXTURE);
        assert_eq!(render(&build(None)), features_json());
        let s = features_json();
        assert!(s.starts_with("{\n    \"ociVersionMin\": \"1.0.0\",\n"));
        assert!(s.ends_with("\n}\n"));
    }

    #[test]
    fn lists_are_sorted_and_unique() {
        fn sorted_unique(xs: &[&str]) -> bool {
            xs.windows(2).all(|w| w[0] < w[1])
        }
        assert!(sorted_unique(&MOUNT_OPTIONS));
        assert!(sorted_unique(&NAMESPACES));
        assert!(sorted_unique(&SECCOMP_ACTIONS));
        assert!(sorted_unique(&SECCOMP_OPERATORS));
        assert!(sorted_unique(&SECCOMP_ARCHS));
        let caps: BTreeSet<_> = CAPABILITIES.iter().collect();
        assert_eq!(caps.len(), 41);
    }

    #[test]
    fn runc_capabilities_and_subsets() {
        let runc: Value = serde_json::from_str(RUNC_FIXTURE).unwrap();
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        // Same capability list, same order as runc (kernel bit order).
        assert_eq!(strs(&runc["linux"]["capabilities"]), CAPABILITIES);
        assert_eq!(strs(&runc["hooks"]), HOOKS);
        assert_eq!(strs(&runc["linux"]["seccomp"]["actions"]), SECCOMP_ACTIONS);
        assert_eq!(
            strs(&runc["linux"]["seccomp"]["operators"]),
            SECCOMP_OPERATORS
        );
        // runc's namespaces and archs are subsets of ours; our mount options
        // a subset of runc's.
        for ns in strs(&runc["linux"]["namespaces"]) {
            assert!(NAMESPACES.contains(&ns.as_str()), "{ns}");
        }
        for a in strs(&runc["linux"]["seccomp"]["archs"]) {
            assert!(SECCOMP_ARCHS.contains(&a.as_str()), "{a}");
        }
        let runc_opts = strs(&runc["mountOptions"]);
        for o in MOUNT_OPTIONS {
            assert!(runc_opts.iter().any(|r| r == o), "{o}");
        }
    }

    /// Every name we advertise is one config.json can carry (oci-spec parses it).
    #[test]
    fn names_parse_as_oci_spec_types() {
        use oci_spec::runtime::{
            Arch, Capability, LinuxNamespaceType, LinuxSeccompAction, LinuxSeccompOperator,
        };
        fn parses<T: serde::de::DeserializeOwned>(names: &[&str]) {
            for n in names {
                serde_json::from_value::<T>(Value::from(*n)).unwrap_or_else(|e| panic!("{n}: {e}"));
            }
        }
        parses::<LinuxNamespaceType>(&NAMESPACES);
        parses::<Capability>(&CAPABILITIES);
        parses::<LinuxSeccompAction>(&SECCOMP_ACTIONS);
        parses::<LinuxSeccompOperator>(&SECCOMP_OPERATORS);
        parses::<Arch>(&SECCOMP_ARCHS);
    }

    #[test]
    fn values() {
        let v = ours();
        assert_eq!(v["ociVersionMax"], oci_spec::runtime::VERSION);
        assert_eq!(v["linux"]["namespaces"].as_array().unwrap().len(), 8);
        assert_eq!(v["linux"]["capabilities"].as_array().unwrap().len(), 41);
        assert_eq!(v["linux"]["capabilities"][0], "CAP_CHOWN");
        assert_eq!(v["linux"]["capabilities"][40], "CAP_CHECKPOINT_RESTORE");
        assert_eq!(
            v["linux"]["cgroup"],
            serde_json::json!({"v1": true, "v2": true, "systemd": false, "systemdUser": false})
        );
        assert_eq!(v["linux"]["seccomp"]["enabled"], true);
        assert_eq!(v["linux"]["apparmor"]["enabled"], false);
        assert_eq!(v["linux"]["selinux"]["enabled"], false);
        assert_eq!(
            v["annotations"][ANNOTATION_VERSION],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(v["annotations"][ANNOTATION_CHECKPOINT], "false");
    }
}
