//! Bad input: the runtime must fail with exit 1 and a clear message on stderr, and leave
//! nothing behind (no state dir under --root, no cgroup named after the id, no host mount, no
//! process). Each case is first run under runc to prove the expectation.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Where runc 1.1 accepts a config that moat deliberately rejects (crates/spec/src/load.rs):
/// assert runc's behaviour (create succeeds, message `runc_words` if any on stderr), then
/// moat's (exit 1, stderr mentions one of `moat_words`, nothing left) unless
/// MOAT_E2E_BINARY is runc.
fn runc_accepts_moat_rejects(
    name: &str,
    modify: impl Fn(&mut Value),
    runc_words: &[&str],
    moat_words: &[&str],
) {
    let runc = Runtime::runc();
    let bundle = Bundle::new(&modify);
    let id = unique_id(name);
    let out = runc.create(&bundle, &id);
    assert_eq!(
        out.code(),
        Some(0),
        "runc now rejects {name}?\n{}",
        out.describe()
    );
    for w in runc_words {
        assert!(
            out.stderr_str().contains(w),
            "runc: {name}: no {w:?}:\n{}",
            out.describe()
        );
    }
    assert_eq!(runc.state(&id)["status"], "created");
    assert!(runc.delete_force(&id).status.success());

    let moat = Runtime::moat();
    if moat.is_really_runc() {
        eprintln!("skipping moat half of {name}: MOAT_E2E_BINARY is runc");
        return;
    }
    let bundle = Bundle::new(&modify);
    let id = unique_id(name);
    let out = moat.create(&bundle, &id);
    assert_eq!(
        out.code(),
        Some(1),
        "moat: {name}: expected exit 1\n{}",
        out.describe()
    );
    let err = out.stderr_str().to_lowercase();
    assert!(
        moat_words.iter().any(|w| err.contains(&w.to_lowercase())),
        "moat: {name}: stderr should mention one of {moat_words:?}\n{}",
        out.describe()
    );
    assert_nothing_left(&moat, &bundle, &id);
}

/// Runs `create` on a bundle prepared by `prepare` (config edits + rootfs tampering) and
/// checks the failure: exit 1, stderr mentioning one of `words` (case-insensitive), nothing
/// left behind.
fn create_fails(name: &str, modify: impl Fn(&mut Value), tamper: impl Fn(&Bundle), words: &[&str]) {
    for rt in Runtime::all() {
        let bundle = Bundle::new(&modify);
        tamper(&bundle);
        let id = unique_id(name);
        let out = rt.create(&bundle, &id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: {name}: expected exit 1\n{}",
            rt.name,
            out.describe()
        );
        let err = out.stderr_str().to_lowercase();
        assert!(
            words.iter().any(|w| err.contains(&w.to_lowercase())),
            "{}: {name}: stderr should mention one of {words:?}\n{}",
            rt.name,
            out.describe()
        );
        assert_nothing_left(&rt, &bundle, &id);
        let st = rt.state_output(&id);
        assert_eq!(
            st.code(),
            Some(1),
            "{}: {name}: state after failed create\n{}",
            rt.name,
            st.describe()
        );
    }
}

#[test]
fn invalid_json_config() {
    create_fails(
        "badjson",
        |_| {},
        |b| fs::write(b.path().join("config.json"), "{\"ociVersion\": \"1.0.2\", ").unwrap(),
        // runc 1.1 only says `runc create failed: unexpected EOF` (no word about the config).
        &["json", "config", "unexpected end", "eof"],
    );
}

#[test]
fn missing_config() {
    create_fails(
        "noconfig",
        |_| {},
        |b| fs::remove_file(b.path().join("config.json")).unwrap(),
        &["config.json", "no such file"],
    );
}

#[test]
fn missing_rootfs() {
    create_fails(
        "norootfs",
        |_| {},
        |b| fs::remove_dir_all(b.rootfs()).unwrap(),
        &["rootfs", "no such file"],
    );
}

#[test]
fn missing_process_binary() {
    create_fails(
        "noexe",
        |c| c["process"]["args"] = json!(["/no/such/binary"]),
        |_| {},
        &["no such file", "not found", "executable"],
    );
}

/// runc 1.1 does not check ociVersion at all: "9.9.9" creates fine. moat documents that it
/// accepts 1.x only ("unsupported ociVersion").
#[test]
fn unknown_oci_version() {
    runc_accepts_moat_rejects(
        "ociver",
        |c| c["ociVersion"] = json!("9.9.9"),
        &[],
        &["ociVersion"],
    );
}

/// runc 1.1 accepts relative mount destinations with a deprecation warning, resolving them
/// against the rootfs ("../../etc" is clamped to the rootfs' /etc: no escape). moat rejects
/// relative destinations and any `..`.
#[test]
fn escaping_mount_destination() {
    runc_accepts_moat_rejects(
        "dotdot",
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "../../etc", "type": "tmpfs", "source": "tmpfs"}))
        },
        &["is not absolute"],
        &["destination", "absolute", ".."],
    );
}

#[test]
fn relative_mount_destination() {
    runc_accepts_moat_rejects(
        "reldest",
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}))
        },
        &["is not absolute"],
        &["destination", "absolute"],
    );
}

/// rootfs/proc -> / : proc must not be mounted over the rootfs (or the host's /).
/// runc: `filesystem "proc" must be mounted on ordinary directory`.
#[test]
fn hostile_rootfs_proc_symlink_to_root() {
    create_fails(
        "procsym",
        |_| {},
        |b| {
            fs::remove_dir(b.rootfs().join("proc")).unwrap();
            symlink("/", b.rootfs().join("proc")).unwrap();
        },
        &["proc"],
    );
    // and the host's / was not touched
    assert!(Path::new("/proc/self").exists());
}

/// rootfs/dev -> /dev : the tmpfs for /dev must not land on the host's /dev.
/// runc: `SecureJoin .../rootfs//dev/: too many levels of symbolic links`.
#[test]
fn hostile_rootfs_dev_symlink_to_host_dev() {
    let dev_before = host_dev_mounts();
    create_fails(
        "devsym",
        |_| {},
        |b| {
            fs::remove_dir(b.rootfs().join("dev")).unwrap();
            symlink("/dev", b.rootfs().join("dev")).unwrap();
        },
        &["dev"],
    );
    assert!(Path::new("/dev/null").exists());
    assert_eq!(
        host_dev_mounts(),
        dev_before,
        "a mount was stacked on the host's /dev"
    );
}

/// Host mounts whose mount point is /dev.
fn host_dev_mounts() -> usize {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/dev"))
        .count()
}

/// A mount destination that is a symlink to / inside the rootfs must not mount over the
/// rootfs root or the host's /. runc fails (`open .../rootfs/mnt/evil: no such file or
/// directory`, after resolving the link inside the rootfs).
#[test]
fn mount_destination_symlink_to_root() {
    create_fails(
        "evilmnt",
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/mnt/evil", "type": "tmpfs", "source": "tmpfs"}))
        },
        |b| {
            fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
            symlink("/", b.rootfs().join("mnt/evil")).unwrap();
        },
        &["/mnt/evil", "symlink", "mount"],
    );
}

/// Shared setup: a created container running `sleep`.
fn created(rt: &Runtime, name: &str) -> (Bundle, String) {
    let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
    let id = unique_id(name);
    let out = rt.create(&bundle, &id);
    assert!(
        out.status.success(),
        "{}: create\n{}",
        rt.name,
        out.describe()
    );
    (bundle, id)
}

#[test]
fn duplicate_container_id() {
    for rt in Runtime::all() {
        let (_b, id) = created(&rt, "dup");
        let pid = rt.state(&id)["pid"].clone();
        let other = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let out = rt.create(&other, &id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: duplicate create\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            out.stderr_str().contains("exists"),
            "{}: duplicate create message\n{}",
            rt.name,
            out.describe()
        );
        // the first container is untouched, the second bundle left nothing behind
        let st = rt.state(&id);
        assert_eq!(st["status"], "created", "{}: {st:#}", rt.name);
        assert_eq!(st["pid"], pid, "{}: {st:#}", rt.name);
        assert!(processes_using(other.path(), "\0never").is_empty());
        assert!(rt.delete_force(&id).status.success());
    }
}

#[test]
fn kill_with_unknown_signal() {
    for rt in Runtime::all() {
        let (_b, id) = created(&rt, "badsig");
        for sig in ["SIGNOPE", "NOPE", "999"] {
            let out = rt.kill(&id, sig);
            assert_eq!(
                out.code(),
                Some(1),
                "{}: kill {sig}\n{}",
                rt.name,
                out.describe()
            );
            assert!(
                out.stderr_str().to_lowercase().contains("signal"),
                "{}: kill {sig} message\n{}",
                rt.name,
                out.describe()
            );
        }
        assert_eq!(rt.state(&id)["status"], "created");
        assert!(rt.delete_force(&id).status.success());
    }
}

#[test]
fn delete_running_without_force() {
    for rt in Runtime::all() {
        let (_b, id) = created(&rt, "delrun");
        assert!(rt.start(&id).status.success());
        rt.wait_status(&id, "running");
        let out = rt.delete(&id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: delete running\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            out.stderr_str().contains("running"),
            "{}: delete running message\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(rt.state(&id)["status"], "running", "{}", rt.name);
        let out = rt.delete_force(&id);
        assert!(
            out.status.success(),
            "{}: delete --force\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(rt.state_output(&id).code(), Some(1));
    }
}

/// Operations on an id that does not exist fail with exit 1.
#[test]
fn unknown_container_id() {
    for rt in Runtime::all() {
        let id = unique_id("ghost");
        for args in [
            vec!["start", &id],
            vec!["kill", &id, "KILL"],
            vec!["delete", &id],
            vec!["state", &id],
        ] {
            let out = rt.exec(&args);
            assert_eq!(
                out.code(),
                Some(1),
                "{}: {args:?}\n{}",
                rt.name,
                out.describe()
            );
            assert!(!out.stderr.is_empty(), "{}: {args:?} says nothing", rt.name);
        }
    }
}
