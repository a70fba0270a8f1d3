//! create → start → kill → delete, with `state` and `list` checked at every step.
mod common;

use common::*;
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = unique_id("life");

        // Nothing yet: state fails with exit 1.
        let out = rt.state_output(&id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: state of unknown id\n{}",
            rt.name,
            out.describe()
        );

        let out = rt.create(&bundle, &id);
        assert!(
            out.status.success(),
            "{}: create\n{}",
            rt.name,
            out.describe()
        );

        let st = rt.state(&id);
        assert_eq!(st["status"], "created", "{}: {st:#}", rt.name);
        assert_eq!(st["id"], id.as_str());
        assert_eq!(st["bundle"], bundle.path_str(), "{}: {st:#}", rt.name);
        assert!(st["ociVersion"].is_string(), "{}: {st:#}", rt.name);
        let pid = st["pid"].as_u64().unwrap_or(0);
        assert!(pid > 0, "{}: created state has no pid: {st:#}", rt.name);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{}: init pid {pid} not alive after create",
            rt.name
        );

        // list (table) and list -f json show it.
        let out = rt.list();
        assert!(
            out.status.success(),
            "{}: list\n{}",
            rt.name,
            out.describe()
        );
        let table = out.stdout_str();
        let header = table.lines().next().unwrap_or_default();
        for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
            assert!(
                header.contains(col),
                "{}: list header lacks {col}: {table}",
                rt.name
            );
        }
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{}: list lacks {id}:\n{table}", rt.name));
        assert!(row.contains("created"), "{}: {row}", rt.name);
        let l = rt.list_json();
        let entry = l
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{}: list -f json lacks {id}: {l:?}", rt.name));
        assert_eq!(entry["status"], "created");
        assert_eq!(entry["pid"].as_u64(), Some(pid));
        assert_eq!(entry["bundle"], bundle.path_str());

        let out = rt.start(&id);
        assert!(
            out.status.success(),
            "{}: start\n{}",
            rt.name,
            out.describe()
        );
        let st = rt.wait_status(&id, "running");
        assert_eq!(
            st["pid"].as_u64(),
            Some(pid),
            "{}: pid changed on start",
            rt.name
        );

        // Starting twice is an error.
        let out = rt.start(&id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: second start\n{}",
            rt.name,
            out.describe()
        );

        let out = rt.kill(&id, "KILL");
        assert!(
            out.status.success(),
            "{}: kill\n{}",
            rt.name,
            out.describe()
        );
        let st = rt.wait_status(&id, "stopped");
        assert_eq!(st["id"], id.as_str());

        let out = rt.delete(&id);
        assert!(
            out.status.success(),
            "{}: delete\n{}",
            rt.name,
            out.describe()
        );
        let out = rt.state_output(&id);
        assert_eq!(
            out.code(),
            Some(1),
            "{}: state after delete\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            !out.stderr.is_empty(),
            "{}: state after delete prints no error",
            rt.name
        );

        let out = rt.list();
        assert!(
            !out.stdout_str()
                .lines()
                .any(|l| l.split_whitespace().next() == Some(id.as_str())),
            "{}: list still shows {id}:\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            !rt.list_json().iter().any(|e| e["id"] == id.as_str()),
            "{}: list -f json still shows {id}",
            rt.name
        );
        assert!(
            !rt.root_entries().contains(&id),
            "{}: {id} still under --root after delete: {:?}",
            rt.name,
            rt.root_entries()
        );
        assert!(
            cgroup_dirs_named(&id).is_empty(),
            "{}: cgroup dirs left after delete: {:?}",
            rt.name,
            cgroup_dirs_named(&id)
        );
    }
}

/// `run -d` returns at once with the container running; `delete --force` stops and removes it.
#[test]
fn run_detached_then_force_delete() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = unique_id("detach");
        let out = rt.run_detached(&bundle, &id);
        assert!(
            out.status.success(),
            "{}: run -d\n{}",
            rt.name,
            out.describe()
        );
        let st = rt.state(&id);
        assert_eq!(st["status"], "running", "{}: {st:#}", rt.name);
        let pid = st["pid"].as_u64().unwrap();

        let out = rt.delete_force(&id);
        assert!(
            out.status.success(),
            "{}: delete --force\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(rt.state_output(&id).code(), Some(1));
        // The init is gone (it may linger as a zombie only briefly; it is not our child).
        let deadline = std::time::Instant::now() + cmd_timeout();
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z"))
            .unwrap_or(false)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: pid {pid} survives",
                rt.name
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// `--pid-file` gets the init's pid.
#[test]
fn create_writes_pid_file() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = unique_id("pidfile");
        let pid_file = bundle.path().join("init.pid");
        let out = rt.exec(&[
            "create",
            "--bundle",
            bundle.path_str(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ]);
        assert!(
            out.status.success(),
            "{}: create\n{}",
            rt.name,
            out.describe()
        );
        let st = rt.state(&id);
        let written = std::fs::read_to_string(&pid_file).unwrap();
        assert_eq!(
            written.trim().parse::<u64>().ok(),
            st["pid"].as_u64(),
            "{}: pid file {written:?} vs state {st:#}",
            rt.name
        );
        let out = rt.delete_force(&id);
        assert!(
            out.status.success(),
            "{}: delete --force\n{}",
            rt.name,
            out.describe()
        );
    }
}

/// `delete`, `pause` and `update` from a process in another cgroup than
/// `create`'s act on the container's own cgroup: with no cgroupsPath the
/// path is relative to the creating process's cgroup (runc's rule), so a
/// runtime that resolved it afresh would leak the dir and touch the wrong
/// one. Created from inside a v1 memory cgroup of the test's, deleted from
/// outside it.
#[test]
fn commands_from_another_cgroup_act_on_the_containers_cgroup() {
    let mem = std::path::Path::new("/sys/fs/cgroup/memory");
    if !mem.join("cgroup.procs").exists() {
        eprintln!("skipped: no v1 memory hierarchy on this host");
        return;
    }
    for rt in Runtime::all() {
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = unique_id("othercg");
        let parent = mem.join(format!("moat-test-{id}"));
        std::fs::create_dir(&parent).unwrap();
        let inner = rt.command(&["run", "-d", "--bundle", bundle.path_str(), id.as_str()]);
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&parent)
            .arg(inner.get_program())
            .args(inner.get_args());
        let out = run_command(cmd, cmd_timeout());
        assert!(
            out.status.success(),
            "{}: run -d\n{}",
            rt.name,
            out.describe()
        );
        let leaf = parent.join(&id);
        assert!(leaf.is_dir(), "{}: no {}", rt.name, leaf.display());
        let out = rt.exec(&["update", "--memory", "100000000", id.as_str()]);
        assert!(
            out.status.success(),
            "{}: update\n{}",
            rt.name,
            out.describe()
        );
        let limit = std::fs::read_to_string(leaf.join("memory.limit_in_bytes")).unwrap();
        assert_eq!(
            limit.trim(),
            "99999744",
            "{}: update reached another cgroup",
            rt.name
        );
        let out = rt.delete_force(&id);
        assert!(
            out.status.success(),
            "{}: delete -f\n{}",
            rt.name,
            out.describe()
        );
        let left = leaf.exists();
        let _ = std::fs::remove_dir(&leaf);
        std::fs::remove_dir(&parent).unwrap();
        assert!(!left, "{}: {} left behind", rt.name, leaf.display());
        assert_nothing_left(&rt, &bundle, &id);
    }
}
