//! `exec`: the exec'd process is in the container's namespaces, cgroup, hostname, with the
//! identity and capabilities asked for; its exit status is moat's; stopped and paused
//! containers are refused as runc does; a failing exec names the step and path. runc is
//! run on the same cases as the control; the hardened floor binds exec'd processes too.
mod common;

use common::*;
use serde_json::json;
use std::fs;

fn sleeper() -> Bundle {
    Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "1000"]);
        c["hostname"] = json!("exec-host");
    })
}

fn start(rt: &Runtime, b: &Bundle, id: &str) -> i64 {
    let out = rt.run_detached(b, id);
    assert_eq!(
        out.code(),
        Some(0),
        "{} run -d:\n{}",
        rt.name,
        out.describe()
    );
    rt.state(id)["pid"].as_i64().unwrap()
}

fn exec_ok(rt: &Runtime, id: &str, args: &[&str]) -> String {
    exec_with(rt, &[], id, args)
}

/// `exec <flags> <id> <args>` (runc takes no flags after the id).
fn exec_with(rt: &Runtime, flags: &[&str], id: &str, args: &[&str]) -> String {
    let mut a = vec!["exec"];
    a.extend_from_slice(flags);
    a.push(id);
    a.extend_from_slice(args);
    let out = rt.exec(&a);
    assert_eq!(
        out.code(),
        Some(0),
        "{} exec {args:?}:\n{}",
        rt.name,
        out.describe()
    );
    out.stdout_str()
}

fn status_field(pid: i64, key: &str) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap()
}

fn check_same_container(rt: &Runtime, id: &str, pid: i64) {
    for ns in ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup"] {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = exec_ok(rt, id, &["readlink", &format!("/proc/self/ns/{ns}")]);
        assert_eq!(
            ours.trim(),
            theirs.to_str().unwrap(),
            "{}: {ns} namespace",
            rt.name
        );
    }
    // The same cgroup, seen from inside (the container may have a cgroup namespace)...
    assert_eq!(
        exec_ok(rt, id, &["cat", "/proc/self/cgroup"]),
        exec_ok(rt, id, &["cat", "/proc/1/cgroup"]),
        "{}: cgroup",
        rt.name
    );
    // ...and from the host.
    let dir = TempDir::new("expid");
    let pf = dir.path().join("pid");
    exec_with(
        rt,
        &["-d", "--pid-file", pf.to_str().unwrap()],
        id,
        &["sleep", "100"],
    );
    let epid = fs::read_to_string(&pf).unwrap();
    assert_eq!(
        fs::read_to_string(format!("/proc/{}/cgroup", epid.trim())).unwrap(),
        fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        "{}: host view of the cgroup",
        rt.name
    );
    assert_eq!(
        exec_ok(rt, id, &["hostname"]).trim(),
        "exec-host",
        "{}",
        rt.name
    );
    // Same capabilities and root as the init.
    let caps = exec_ok(rt, id, &["grep", "CapEff", "/proc/self/status"]);
    assert_eq!(
        caps.trim().trim_start_matches("CapEff:").trim(),
        status_field(pid, "CapEff"),
        "{}: capabilities",
        rt.name
    );
    assert_eq!(
        exec_ok(rt, id, &["ls", "/"]),
        exec_ok(rt, id, &["ls", "/proc/1/root/"])
    );
}

#[test]
fn exec_joins_namespaces_cgroup_hostname_and_caps() {
    for rt in Runtime::both() {
        let b = sleeper();
        let id = unique_id("exns");
        let pid = start(&rt, &b, &id);
        check_same_container(&rt, &id, pid);
        rt.delete_force(&id);
    }
}

#[test]
fn exec_under_the_hardened_floor_is_bound_by_it() {
    let rt = Runtime::moat_hardened();
    let b = sleeper();
    let id = unique_id("exhard");
    let pid = start(&rt, &b, &id);
    check_same_container(&rt, &id, pid);
    let st = exec_ok(&rt, &id, &["cat", "/proc/self/status"]);
    assert!(st.contains("NoNewPrivs:\t1"), "{st}");
    assert!(st.contains("Seccomp:\t2"), "{st}");
    // --cap cannot lift what the floor denies.
    let caps = exec_with(
        &rt,
        &["--cap", "CAP_SYS_ADMIN"],
        &id,
        &["grep", "CapEff", "/proc/self/status"],
    );
    let eff = u64::from_str_radix(caps.trim().trim_start_matches("CapEff:").trim(), 16).unwrap();
    assert_eq!(eff & (1 << 21), 0, "CAP_SYS_ADMIN granted: {caps}");
    rt.delete_force(&id);
}

#[test]
fn exec_user_env_cwd_and_caps_flags() {
    for rt in Runtime::both() {
        let b = sleeper();
        let id = unique_id("exflags");
        start(&rt, &b, &id);
        assert_eq!(
            exec_with(&rt, &["-u", "1000:100"], &id, &["id", "-u"]).trim(),
            "1000"
        );
        assert_eq!(
            exec_with(&rt, &["-u", "1000:100"], &id, &["id", "-g"]).trim(),
            "100"
        );
        assert_eq!(
            exec_with(&rt, &["-u", "1000", "-g", "2000"], &id, &["id", "-G"]).trim(),
            "0 2000",
            "{}",
            rt.name
        );
        assert_eq!(
            exec_with(&rt, &["-e", "FOO=bar"], &id, &["sh", "-c", "echo $FOO"]).trim(),
            "bar"
        );
        assert_eq!(
            exec_with(&rt, &["--cwd", "/tmp"], &id, &["pwd"]).trim(),
            "/tmp"
        );
        let caps = exec_with(
            &rt,
            &["--cap", "CAP_SYS_ADMIN"],
            &id,
            &["grep", "CapEff", "/proc/self/status"],
        );
        let eff =
            u64::from_str_radix(caps.trim().trim_start_matches("CapEff:").trim(), 16).unwrap();
        assert_ne!(eff & (1 << 21), 0, "{}: --cap not applied: {caps}", rt.name);
        // --process: the whole process from a file
        let p = b.path().join("p.json");
        fs::write(
            &p,
            r#"{"args":["sh","-c","echo $X; pwd; id -u"],"env":["PATH=/bin","X=y"],"cwd":"/tmp","user":{"uid":1000,"gid":1000}}"#,
        )
        .unwrap();
        assert_eq!(
            exec_with(&rt, &["--process", p.to_str().unwrap()], &id, &[]),
            "y\n/tmp\n1000\n",
            "{}",
            rt.name
        );
        rt.delete_force(&id);
    }
}

#[test]
fn exec_exit_status_propagates() {
    for rt in Runtime::both() {
        let b = sleeper();
        let id = unique_id("excode");
        start(&rt, &b, &id);
        let out = rt.exec(&["exec", &id, "sh", "-c", "exit 7"]);
        assert_eq!(out.code(), Some(7), "{}:\n{}", rt.name, out.describe());
        let out = rt.exec(&["exec", &id, "sh", "-c", "kill -9 $$"]);
        assert_eq!(out.code(), Some(137), "{}:\n{}", rt.name, out.describe());
        // detached: exit 0 at once, the pid file names a process of the container
        let pf = b.path().join("exec.pid");
        let out = rt.exec(&[
            "exec",
            "-d",
            "--pid-file",
            pf.to_str().unwrap(),
            &id,
            "sleep",
            "100",
        ]);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        assert_eq!(out.stdout_str(), "");
        let pid: i64 = fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
        let ps = rt.exec(&["ps", "-f", "json", &id]);
        let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap();
        assert!(pids.contains(&pid), "{}: {pid} not in {pids:?}", rt.name);
        rt.delete_force(&id);
    }
}

#[test]
fn exec_refusals_match_runc() {
    let mut seen = vec![];
    for rt in Runtime::both() {
        let b = sleeper();
        let id = unique_id("exref");
        start(&rt, &b, &id);
        let mut r = vec![];
        let mut step = |args: &[&str]| {
            let out = rt.exec(args);
            let last = out.stderr_str().lines().last().unwrap_or("").to_string();
            let msg = last.rsplit("msg=").next().unwrap_or("").replace(&id, "ID");
            r.push((args.join(" ").replace(&id, "ID"), out.code(), msg));
        };
        step(&["pause", &id]);
        step(&["exec", &id, "true"]);
        step(&["resume", &id]);
        rt.kill(&id, "KILL");
        rt.wait_status(&id, "stopped");
        step(&["exec", &id, "true"]);
        step(&["exec", "no-such-container", "true"]);
        rt.delete(&id);
        seen.push(r);
    }
    let fmt = |v: &Vec<(String, Option<i32>, String)>| -> Vec<String> {
        v.iter()
            .map(|(a, c, m)| format!("{a}: {c:?} {m}"))
            .collect()
    };
    assert_eq!(fmt(&seen[0]), fmt(&seen[1]), "runc vs moat");
}

#[test]
fn failing_exec_names_step_and_path() {
    for rt in Runtime::both() {
        let b = sleeper();
        let id = unique_id("exfail");
        start(&rt, &b, &id);
        let out = rt.exec(&["exec", &id, "/no/such/binary"]);
        assert_eq!(out.code(), Some(255), "{}:\n{}", rt.name, out.describe());
        assert!(
            out.stderr_str().contains("/no/such/binary"),
            "{}",
            out.describe()
        );
        let out = rt.exec(&["exec", "--cwd", "/no/such/dir", &id, "true"]);
        assert_eq!(out.code(), Some(255), "{}:\n{}", rt.name, out.describe());
        assert!(
            out.stderr_str().contains("/no/such/dir"),
            "{}",
            out.describe()
        );
        // the container is unharmed
        assert_eq!(rt.state(&id)["status"], "running");
        rt.delete_force(&id);
    }
}
