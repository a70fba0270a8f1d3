//! The runc escape CVE classes, each mounted as an attack against moat.
//! Under both policies where the defence is moat's own code (not the
//! floor); runc's result is printed, not asserted (Debian patches vary).

mod common;

use common::*;
use serde_json::json;

fn moats() -> Vec<Runtime> {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return vec![Runtime::moat()];
    }
    vec![Runtime::moat(), Runtime::moat_hardened()]
}

/// CVE-2024-21626: `process.cwd = /proc/self/fd/N` naming a descriptor the
/// runtime leaked into the init lands the container in a host directory.
/// moat closes every fd above stdio before the chdir and checks the cwd.
#[test]
fn cve_2024_21626_leaked_fd_as_cwd() {
    for rt in moats() {
        for n in 3..12 {
            let bundle = Bundle::new(|c| {
                c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
                c["process"]["args"] =
                    json!(["sh", "-c", "ls -a; cat state.json config.json 2>/dev/null"]);
            });
            let id = unique_id("cve21626");
            let out = rt.run(&bundle, &id);
            let all = format!("{}{}", out.stdout_str(), out.stderr_str());
            for marker in ["state.json", "exec.fifo", "\"ociVersion\""] {
                assert!(
                    !all.contains(marker),
                    "{} fd {n}: container reached a host directory ({marker}): {}",
                    rt.name,
                    out.describe()
                );
            }
            rt.delete_force(&id);
            assert_nothing_left(&rt, &bundle, &id);
        }
    }
}

/// CVE-2025-31133: the image plants /dev/null as a symlink to a kernel knob
/// so that "masking" a path with it bind-mounts the knob instead. moat
/// makes its own /dev/null and verifies it is char 1:3 before masking.
#[test]
fn cve_2025_31133_dev_null_symlink_in_image() {
    for rt in moats() {
        let bundle = Bundle::new(|c| {
            // No /dev tmpfs: the image's own /dev is used.
            let mounts: Vec<serde_json::Value> = c["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    m["destination"] != "/dev"
                        && !m["destination"].as_str().unwrap().starts_with("/dev/")
                })
                .cloned()
                .collect();
            c["mounts"] = json!(mounts);
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "stat -c '%F %t:%T' /dev/null; cat /proc/timer_list | head -c 10 | wc -c"
            ]);
        });
        let dev = bundle.rootfs().join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        let _ = std::fs::remove_file(dev.join("null"));
        std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
        let id = unique_id("cve31133");
        let out = rt.run(&bundle, &id);
        if out.code() == Some(0) {
            let text = out.stdout_str();
            assert!(
                text.contains("character special file 1:3"),
                "{}: {}",
                rt.name,
                out.describe()
            );
            assert!(
                text.trim_end().ends_with('0'),
                "{}: masked file readable: {}",
                rt.name,
                out.describe()
            );
        } else {
            // Refusing to start is also a defence; it must say why.
            assert!(
                out.stderr_str().contains("/dev/null"),
                "{}: {}",
                rt.name,
                out.describe()
            );
        }
        rt.delete_force(&id);
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// CVE-2022-0492: writing a cgroup v1 release_agent runs a host program as
/// root. The container's cgroupfs is read-only and shows only its own
/// cgroup, which has no release_agent.
#[test]
fn cve_2022_0492_release_agent() {
    for rt in moats() {
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sh", "-c",
                "for d in /sys/fs/cgroup/*; do if echo /x > $d/release_agent 2>/dev/null; then echo WROTE $d; fi; done; echo done"]);
        });
        let id = unique_id("cve0492");
        let out = rt.run(&bundle, &id);
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        assert!(
            !out.stdout_str().contains("WROTE"),
            "{}: {}",
            rt.name,
            out.describe()
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// CVE-2022-29162: an inheritable capability set lets a binary with file
/// capabilities gain more than the container was given. The floor empties
/// it (compat keeps the config, as runc does).
#[test]
fn cve_2022_29162_inheritable_caps() {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return;
    }
    let bundle = Bundle::new(|c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        c["process"]["args"] = json!(["sh", "-c", "grep CapInh /proc/self/status"]);
    });
    let rt = Runtime::moat_hardened();
    let out = rt.run(&bundle, &unique_id("cve29162"));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout_str().contains("CapInh:\t0000000000000000"),
        "{}",
        out.describe()
    );
    // Control: compat keeps the config's inheritable set.
    let rt = Runtime::moat();
    let out = rt.run(&bundle, &unique_id("cve29162c"));
    assert!(
        !out.stdout_str().contains("CapInh:\t0000000000000000"),
        "{}",
        out.describe()
    );
}

/// TIOCSTI injection: a container whose stdio is the caller's terminal
/// pushes keystrokes into the caller's shell. moat's init takes a session
/// of its own, so that terminal is never the container's controlling tty
/// (runc pipes stdio instead). Run under `script` so moat's stdin is a pty.
#[test]
fn tiocsti_into_the_callers_terminal() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("no /usr/bin/script (util-linux): skipping");
        return;
    }
    for rt in moats() {
        let bundle = Bundle::with_checker(|c| {
            c["process"]["args"] = json!(["/checker", "--syscalls"]);
        });
        let id = unique_id("tiocsti");
        let mut line = format!("'{}'", rt.binary.display());
        for g in &rt.global {
            line.push_str(&format!(" '{g}'"));
        }
        line.push_str(&format!(
            " --root '{}' run --bundle '{}' {id}",
            rt.root_path().display(),
            bundle.path_str()
        ));
        let mut cmd = std::process::Command::new("/usr/bin/script");
        cmd.args(["-qec", &line, "/dev/null"]);
        let out = run_command(cmd, cmd_timeout());
        let text = out.stdout_str();
        assert!(
            text.contains("\"tiocsti\""),
            "{}: {}",
            rt.name,
            out.describe()
        );
        assert!(
            !text.contains("\"tiocsti\":\"ok\""),
            "{}: the container injected into the caller's terminal: {}",
            rt.name,
            out.describe()
        );
        rt.delete_force(&id);
    }
}

/// Each container gets a session keyring of its own (runc does the same
/// unless --no-new-keyring): two containers, and the runtime, never share
/// one. Checked under compat, where keyctl is allowed.
#[test]
fn containers_do_not_share_a_session_keyring() {
    let serial = |rt: &Runtime, extra: &[&str]| {
        let bundle = Bundle::with_checker(|c| {
            c["process"]["args"] = json!(["/checker", "--syscalls"]);
        });
        let id = unique_id("keyring");
        let mut args: Vec<&str> = vec!["run"];
        args.extend_from_slice(extra);
        args.extend(["--bundle", bundle.path_str(), &id]);
        let out = rt.exec(&args);
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        let r = parse_report(rt, &out);
        r["syscalls"]["session_keyring"]
            .as_i64()
            .expect("keyring serial")
    };
    let rt = Runtime::moat();
    let (a, b) = (serial(&rt, &[]), serial(&rt, &[]));
    assert_ne!(a, b, "two containers share session keyring {a}");
    // Control: --no-new-keyring keeps the caller's keyring, the same for both.
    let (c, d) = (
        serial(&rt, &["--no-new-keyring"]),
        serial(&rt, &["--no-new-keyring"]),
    );
    assert_eq!(c, d, "--no-new-keyring control");
}

/// CVE-2019-5736: the image makes the container's entry point the runtime
/// itself — `/bin/sh -> /proc/self/exe`, or a script with
/// `#!/proc/self/exe` — so that the container process *is* the host's moat
/// binary and can reopen it for writing. moat refuses such exec targets;
/// the binary on the host is unchanged either way.
#[test]
fn cve_2019_5736_runtime_binary_as_entry_point() {
    let moat_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_moat"));
    let before = std::fs::read(&moat_bin).unwrap();
    for rt in moats() {
        for variant in ["symlink", "shebang"] {
            let bundle = Bundle::new(|c| {
                c["process"]["args"] = json!(["/bin/entry", "--version"]);
            });
            let entry = bundle.rootfs().join("bin/entry");
            if variant == "symlink" {
                std::os::unix::fs::symlink("/proc/self/exe", &entry).unwrap();
            } else {
                std::fs::write(&entry, "#!/proc/self/exe\n").unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let id = unique_id("cve5736");
            let out = rt.run(&bundle, &id);
            let all = format!("{}{}", out.stdout_str(), out.stderr_str());
            assert!(
                !all.contains("moat 0.") && !all.contains("runc version"),
                "{} {variant}: the container ran the runtime binary: {}",
                rt.name,
                out.describe()
            );
            assert_ne!(
                out.code(),
                Some(0),
                "{} {variant}: {}",
                rt.name,
                out.describe()
            );
            assert!(
                all.contains("magic link"),
                "{} {variant}: {}",
                rt.name,
                out.describe()
            );
            rt.delete_force(&id);
            assert_nothing_left(&rt, &bundle, &id);
        }
    }
    assert!(
        std::fs::read(&moat_bin).unwrap() == before,
        "moat binary changed"
    );
}
