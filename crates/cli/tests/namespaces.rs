//! Namespaces given by path (`linux.namespaces[].path`): a container joins another
//! container's network, ipc, uts — and user — namespaces; a bad path fails `create` cleanly.
//! Time namespace offsets (moat only: runc 1.1 refuses the time namespace).
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

/// A detached container "A" that sleeps; returns its init's host pid.
fn start_a(rt: &Runtime, bundle: &Bundle, id: &str) -> u64 {
    let out = rt.run_detached(bundle, id);
    assert_eq!(
        out.code(),
        Some(0),
        "{}: run -d A:\n{}",
        rt.name,
        out.describe()
    );
    rt.state(id)["pid"].as_u64().unwrap()
}

fn ns_link(pid: u64, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Replaces the entries of `types` in the config's namespaces with `path` ones.
fn join(c: &mut Value, pid: u64, types: &[(&str, &str)]) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| !types.iter().any(|(t, _)| n["type"] == *t));
    for (t, file) in types {
        ns.push(json!({"type": t, "path": format!("/proc/{pid}/ns/{file}")}));
    }
}

/// B joins A's network, ipc and uts namespaces: its links equal A's, it sees A's hostname
/// and A's loopback-only network; mount and pid namespaces stay its own.
#[test]
fn join_network_ipc_uts_by_path() {
    for rt in Runtime::both() {
        let a_bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sleep", "1000"]);
            c["hostname"] = json!("ctr-a");
        });
        let a = unique_id("ns-a");
        let pid = start_a(&rt, &a_bundle, &a);
        let b_bundle =
            Bundle::new(|c| {
                c["process"]["args"] =
                    json!(["sh", "-c",
                "for n in net ipc uts mnt pid; do readlink /proc/self/ns/$n; done; hostname"]);
                // Setting a hostname would change A's: B leaves it alone.
                c.as_object_mut().unwrap().remove("hostname");
                join(
                    c,
                    pid,
                    &[("network", "net"), ("ipc", "ipc"), ("uts", "uts")],
                );
            });
        let b = unique_id("ns-b");
        let out = rt.run(&b_bundle, &b);
        assert_eq!(out.code(), Some(0), "{}: B:\n{}", rt.name, out.describe());
        let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
        assert_eq!(lines.len(), 6, "{}: {}", rt.name, out.describe());
        assert_eq!(lines[0], ns_link(pid, "net"), "{}: net", rt.name);
        assert_eq!(lines[1], ns_link(pid, "ipc"), "{}: ipc", rt.name);
        assert_eq!(lines[2], ns_link(pid, "uts"), "{}: uts", rt.name);
        assert_ne!(lines[3], ns_link(pid, "mnt"), "{}: mnt is B's own", rt.name);
        assert_ne!(lines[4], ns_link(pid, "pid"), "{}: pid is B's own", rt.name);
        assert_eq!(lines[5], "ctr-a", "{}: hostname through A's uts", rt.name);
        let host = host_namespaces();
        assert_ne!(host["net"], lines[0].as_str(), "{}", rt.name);
        assert_nothing_left(&rt, &b_bundle, &b);
        // A is untouched.
        assert_eq!(rt.state(&a)["status"], "running", "{}", rt.name);
        assert_eq!(rt.delete_force(&a).code(), Some(0));
        assert_nothing_left(&rt, &a_bundle, &a);
    }
}

/// The checker's namespace report agrees: joined ones are A's.
#[test]
fn checker_sees_joined_network_namespace() {
    checker_path();
    for rt in Runtime::both() {
        let a_bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let a = unique_id("ns-a");
        let pid = start_a(&rt, &a_bundle, &a);
        let b_bundle = Bundle::with_checker(|c| {
            c["process"]["args"] = json!(["/checker"]);
            join(c, pid, &[("network", "net")]);
        });
        let b = unique_id("ns-b");
        let out = rt.run(&b_bundle, &b);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        let report = parse_report(&rt, &out);
        assert_eq!(
            report["namespaces"]["net"],
            ns_link(pid, "net").as_str(),
            "{}: {:#}",
            rt.name,
            report["namespaces"]
        );
        assert_eq!(rt.delete_force(&a).code(), Some(0));
    }
}

/// A namespace path that does not exist: create fails with exit 1, the message names the
/// path, and nothing is left (no state, cgroup, process or mount).
#[test]
fn nonexistent_namespace_path_fails_create_cleanly() {
    for rt in Runtime::all() {
        let id = unique_id("ns-bad");
        let missing = format!("/nonexistent-ns-{id}/net");
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sleep", "1000"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": missing}));
        });
        let out = rt.create(&bundle, &id);
        assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
        assert!(
            out.stderr_str().contains(&missing),
            "{}: the message should name {missing}:\n{}",
            rt.name,
            out.describe()
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// A namespace path that is a regular file: refused with exit 1, nothing left.
#[test]
fn non_namespace_file_as_path_fails_create_cleanly() {
    for rt in Runtime::both() {
        let plain = TempDir::new("ns-file");
        let file = plain.path().join("not-a-namespace");
        fs::write(&file, "x").unwrap();
        let id = unique_id("ns-bad");
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sleep", "1000"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": file}));
        });
        let out = rt.create(&bundle, &id);
        assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
        eprintln!(
            "{}: regular file as netns: {}",
            rt.name,
            out.stderr_str().trim()
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// A path to a namespace of another type (A's uts namespace given as "network") must be
/// refused: runc's setns(fd, CLONE_NEWNET) fails with EINVAL ("failed to setns into net
/// namespace: Invalid argument"). moat's init calls setns(fd, 0) (init.rs, the `joins`
/// loop passes CloneFlags::empty()), which accepts any type: the container silently joins
/// A's *uts* namespace and, having no network namespace of its own, runs in the HOST's
/// network namespace although its config asked for an isolated one.
#[test]
fn namespace_path_of_wrong_type_is_refused() {
    for rt in Runtime::both() {
        let a_bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let a = unique_id("ns-a");
        let pid = start_a(&rt, &a_bundle, &a);
        let id = unique_id("ns-bad");
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "readlink /proc/self/ns/net; readlink /proc/self/ns/uts"
            ]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/uts")}));
        });
        let out = rt.run(&bundle, &id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: uts namespace as network path (host net is {}):\n{}",
            rt.name,
            host_namespaces()["net"],
            out.describe()
        );
        assert_nothing_left(&rt, &bundle, &id);
        assert_eq!(rt.delete_force(&a).code(), Some(0));
    }
}

const MAP: u64 = 100000;

fn status_ids(pid: u64, key: &str) -> Vec<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

fn userns(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": MAP, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": MAP, "size": 65536}]);
}

/// A has a user namespace (root = host uid 100000) and its own network namespace; B joins
/// both by path and has a new pid namespace (so it mounts a fresh /proc). B's init is host
/// uid/gid 100000, its user and net links are A's, and inside it is root with A's uid_map.
///
/// moat fails B with "container init: mount /proc: Operation not permitted": its clone3
/// makes B's new pid namespace while still in the host user namespace (create.rs keeps
/// CLONE_NEWPID in the clone flags when joining a user namespace), and the init only then
/// setns()es into A's user namespace, which does not own that pid namespace, so it may not
/// mount procfs for it. runc joins the user namespace first, then unshares the pid
/// namespace (nsexec), so the pid namespace belongs to A's user namespace.
#[test]
fn join_user_and_network_namespace_by_path() {
    user_join_case(false);
}

/// Same, with B also joining A's pid namespace (owned by A's user namespace), which rules
/// out the bug above. runc passes; moat fails B with "container init: mkdir mount
/// destination /dev/pts: Value too large for defined data type" (EOVERFLOW): after
/// setns() into a user namespace given by path the init never does setresuid(0) /
/// setresgid(0) (init.rs does those only `if a.new_user`), so it still runs as host uid 0,
/// which is unmapped in A's user namespace, and cannot create files in the tmpfs its new
/// mount namespace made. runc's nsexec sets uid/gid 0 after joining.
#[test]
fn join_user_network_and_pid_namespace_by_path() {
    user_join_case(true);
}

fn user_join_case(join_pid: bool) {
    for rt in Runtime::both() {
        let a_bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sleep", "1000"]);
            userns(c);
        });
        let a = unique_id("ns-a");
        let a_pid = start_a(&rt, &a_bundle, &a);
        assert_eq!(status_ids(a_pid, "Uid"), vec![MAP; 4], "{}: A", rt.name);

        let b_bundle = Bundle::new(|c| {
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "id -u; id -g; cat /proc/self/uid_map; readlink /proc/self/ns/user; \
                 readlink /proc/self/ns/net; exec sleep 1000"
            ]);
            userns(c);
            join(c, a_pid, &[("user", "user"), ("network", "net")]);
            if join_pid {
                join(c, a_pid, &[("pid", "pid")]);
            }
        });
        let b = unique_id("ns-b");
        let out_dir = TempDir::new("ns-out");
        let out_file = out_dir.path().join("stdout");
        // Detached, stdout to a file of ours: B keeps running for the /proc checks.
        let mut cmd = rt.command(&["run", "-d", "--bundle", b_bundle.path_str(), &b]);
        cmd.stdout(fs::File::create(&out_file).unwrap());
        cmd.stderr(fs::File::create(out_dir.path().join("stderr")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let st = wait_timeout(&mut child, cmd_timeout()).expect("run -d B finishes");
        assert!(
            st.success(),
            "{}: B: {st:?}: {}",
            rt.name,
            fs::read_to_string(out_dir.path().join("stderr")).unwrap_or_default()
        );
        let b_pid = rt.state(&b)["pid"].as_u64().unwrap();
        // Wait for the shell to exec sleep: its output is complete then.
        let deadline = std::time::Instant::now() + cmd_timeout();
        while !fs::read(format!("/proc/{b_pid}/cmdline"))
            .unwrap_or_default()
            .starts_with(b"sleep")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: B never slept",
                rt.name
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            status_ids(b_pid, "Uid"),
            vec![MAP; 4],
            "{}: B uids",
            rt.name
        );
        assert_eq!(
            status_ids(b_pid, "Gid"),
            vec![MAP; 4],
            "{}: B gids",
            rt.name
        );
        assert_eq!(
            ns_link(b_pid, "user"),
            ns_link(a_pid, "user"),
            "{}",
            rt.name
        );
        assert_eq!(ns_link(b_pid, "net"), ns_link(a_pid, "net"), "{}", rt.name);
        assert_ne!(ns_link(b_pid, "mnt"), ns_link(a_pid, "mnt"), "{}", rt.name);
        let text = fs::read_to_string(&out_file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{}: {text}", rt.name);
        assert_eq!(lines[0], "0", "{}: id -u", rt.name);
        assert_eq!(lines[1], "0", "{}: id -g", rt.name);
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["0", "100000", "65536"],
            "{}: uid_map",
            rt.name
        );
        assert_eq!(lines[3], ns_link(a_pid, "user"), "{}", rt.name);
        assert_eq!(lines[4], ns_link(a_pid, "net"), "{}", rt.name);
        assert_eq!(rt.delete_force(&b).code(), Some(0));
        assert_nothing_left(&rt, &b_bundle, &b);
        assert_eq!(rt.delete_force(&a).code(), Some(0));
        assert_nothing_left(&rt, &a_bundle, &a);
    }
}

/// Time namespace with a boottime offset: `/proc/uptime` inside is shifted by it (and the
/// monotonic offset shows in CLOCK_MONOTONIC-based uptime readers too). moat only: runc
/// 1.1 does not know the time namespace (its answer is printed).
#[test]
fn time_namespace_offsets_shift_uptime() {
    const OFFSET: u64 = 1_000_000_000; // ~31.7 years: far above any host's uptime
    let host_uptime: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(host_uptime < OFFSET as f64);
    let mk = || {
        Bundle::new(|c| {
            c["process"]["args"] =
                json!(["sh", "-c", "cat /proc/uptime; readlink /proc/self/ns/time"]);
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({
                "boottime": {"secs": OFFSET, "nanosecs": 0},
                "monotonic": {"secs": 86400, "nanosecs": 0}
            });
        })
    };
    let runc = Runtime::runc();
    let bundle = mk();
    let id = unique_id("ns-time");
    let out = runc.run(&bundle, &id);
    eprintln!(
        "runc 1.1 with a time namespace: exit {:?}: {}",
        out.code(),
        out.stderr_str().trim()
    );
    let _ = runc.delete_force(&id);

    let rt = Runtime::moat();
    if rt.is_really_runc() {
        return;
    }
    let bundle = mk();
    let id = unique_id("ns-time");
    let out = rt.run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let text = out.stdout_str();
    let mut lines = text.lines();
    let uptime: f64 = lines
        .next()
        .and_then(|l| l.split(' ').next())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("no uptime: {}", out.describe()));
    assert!(
        uptime >= OFFSET as f64,
        "uptime inside {uptime} should include the boottime offset {OFFSET}"
    );
    let ns = lines.next().unwrap_or_default();
    assert!(ns.starts_with("time:["), "{text}");
    assert_ne!(host_namespaces()["time"], ns, "a time namespace of its own");
    assert_nothing_left(&rt, &bundle, &id);
}

/// Joining a time namespace by path: B sees A's offset.
#[test]
fn join_time_namespace_by_path() {
    const OFFSET: u64 = 500_000_000;
    let rt = Runtime::moat();
    if rt.is_really_runc() {
        return;
    }
    let a_bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "1000"]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": OFFSET, "nanosecs": 0}});
    });
    let a = unique_id("ns-a");
    let pid = start_a(&rt, &a_bundle, &a);
    let b_bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c", "cat /proc/uptime; readlink /proc/self/ns/time"]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time", "path": format!("/proc/{pid}/ns/time")}));
    });
    let b = unique_id("ns-b");
    let out = rt.run(&b_bundle, &b);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let text = out.stdout_str();
    let mut lines = text.lines();
    let uptime: f64 = lines
        .next()
        .and_then(|l| l.split(' ').next())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(uptime >= OFFSET as f64, "{uptime}");
    assert_eq!(lines.next().unwrap_or_default(), ns_link(pid, "time"));
    assert_eq!(rt.delete_force(&a).code(), Some(0));
    assert_nothing_left(&rt, &a_bundle, &a);
}
