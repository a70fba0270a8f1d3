//! Resource control: `pause`/`resume` proved by a counter seen from outside, `update`
//! read back from the host's cgroup files (and a bounded fork loop stopped by pids.max),
//! `events --stats`, `events` streaming an OOM kill, `ps -f json`; refusals in stopped
//! and wrong states. runc is run on the same cases as the control.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Renamed into place, so a reader never sees a truncated file.
const COUNTER: &str =
    "i=0; while :; do i=$((i+1)); echo $i > /tmp/c.t; busybox mv /tmp/c.t /tmp/c; done";

fn bundle_running(script: &str) -> Bundle {
    let s = script.to_string();
    Bundle::new(move |c| {
        c["process"]["args"] = json!(["sh", "-c", s]);
        c["root"]["readonly"] = json!(false);
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

/// The host dir of `pid`'s cgroup in the v1 hierarchy that has `controller`.
fn cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) {
            let mount = fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .find(|m| {
                    m.contains(" - cgroup ")
                        && m.rsplit(' ')
                            .next()
                            .unwrap()
                            .split(',')
                            .any(|o| o == controller)
                })
                .map(|m| m.split(' ').nth(4).unwrap().to_string())
                .unwrap_or_else(|| format!("/sys/fs/cgroup/{controller}"));
            return PathBuf::from(mount).join(path.trim_start_matches('/'));
        }
    }
    panic!("pid {pid} has no {controller} cgroup:\n{text}");
}

fn read_counter(b: &Bundle) -> u64 {
    // The shell rewrites the file constantly: retry over a torn read.
    for _ in 0..100 {
        if let Ok(s) = fs::read_to_string(b.rootfs().join("tmp/c")) {
            if let Ok(n) = s.trim().parse() {
                return n;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("counter never readable");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    for rt in Runtime::both() {
        let b = bundle_running(COUNTER);
        let id = unique_id("pause");
        start(&rt, &b, &id);
        let t0 = read_counter(&b);
        let deadline = Instant::now() + cmd_timeout();
        while read_counter(&b) == t0 {
            assert!(
                Instant::now() < deadline,
                "{}: counter never moved",
                rt.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = rt.exec(&["pause", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} pause:\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(rt.state(&id)["status"], "paused", "{}", rt.name);
        let a = read_counter(&b);
        std::thread::sleep(Duration::from_millis(300));
        let z = read_counter(&b);
        assert_eq!(a, z, "{}: counter moved while paused", rt.name);

        let out = rt.exec(&["resume", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} resume:\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(rt.state(&id)["status"], "running", "{}", rt.name);
        let deadline = Instant::now() + cmd_timeout();
        while read_counter(&b) == z {
            assert!(
                Instant::now() < deadline,
                "{}: counter frozen after resume",
                rt.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        rt.delete_force(&id);
    }
}

#[test]
fn pause_resume_refusals_match_runc() {
    let mut seen = vec![];
    for rt in Runtime::both() {
        let b = bundle_running("sleep 1000");
        let id = unique_id("pstate");
        start(&rt, &b, &id);
        let mut r = vec![];
        let mut step = |args: &[&str]| {
            let out = rt.exec(args);
            let msg = out
                .stderr_str()
                .lines()
                .last()
                .unwrap_or("")
                .rsplit("msg=")
                .next()
                .unwrap_or("")
                .to_string();
            r.push((
                args.join(" ").replace(&id, "ID"),
                out.code(),
                msg.replace(&id, "ID"),
            ));
        };
        step(&["resume", &id]); // running: not paused
        step(&["pause", &id]);
        step(&["pause", &id]); // paused: not running
        step(&["resume", &id]);
        rt.kill(&id, "KILL");
        rt.wait_status(&id, "stopped");
        step(&["pause", &id]);
        step(&["resume", &id]);
        step(&["update", "--pids-limit", "5", &id]);
        step(&["events", "--stats", &id]);
        step(&["pause", "no-such-container"]);
        rt.delete(&id);
        seen.push(r);
    }
    let fmt = |v: &Vec<(String, Option<i32>, String)>| -> Vec<String> {
        v.iter()
            .map(|(a, c, m)| format!("{a}: {c:?} {m}"))
            .collect()
    };
    assert_eq!(
        fmt(&seen[0]),
        fmt(&seen[1]),
        "runc vs moat (command: code message)"
    );
}

#[test]
fn update_changes_pids_and_memory_limits() {
    for rt in Runtime::both() {
        let b = bundle_running("sleep 1000");
        let id = unique_id("upd");
        let pid = start(&rt, &b, &id);
        let pids = cgroup_dir(pid, "pids");
        let mem = cgroup_dir(pid, "memory");
        let out = rt.exec(&["update", "--pids-limit", "10", "--memory", "50M", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} update:\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(
            fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
            "10",
            "{}",
            rt.name
        );
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            "52428800",
            "{}",
            rt.name
        );
        // -r from a file: the resources document format.
        let r = b.path().join("res.json");
        fs::write(&r, r#"{"pids":{"limit":20},"memory":{"limit":62914560}}"#).unwrap();
        let out = rt.exec(&["update", "-r", r.to_str().unwrap(), &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} update -r:\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(
            fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
            "20",
            "{}",
            rt.name
        );
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            "62914560",
            "{}",
            rt.name
        );
        // -1: unlimited.
        let out = rt.exec(&["update", "--pids-limit", "-1", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} update:\n{}",
            rt.name,
            out.describe()
        );
        assert_eq!(
            fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
            "max"
        );
        rt.delete_force(&id);
    }
}

#[test]
fn pids_limit_stops_a_bounded_fork_loop() {
    for rt in Runtime::both() {
        let b = bundle_running("sleep 1000");
        let id = unique_id("forks");
        let pid = start(&rt, &b, &id);
        let out = rt.exec(&["update", "--pids-limit", "10", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} update:\n{}",
            rt.name,
            out.describe()
        );
        // 50 backgrounded sleeps, no more: the limit must stop most of them.
        let out = rt.exec(&[
            "exec",
            &id,
            "sh",
            "-c",
            "i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; echo looped",
        ]);
        // The shell gives up at the first refused fork (busybox: "can't fork").
        let _ = out;
        let dir = cgroup_dir(pid, "pids");
        let current: u64 = fs::read_to_string(dir.join("pids.current"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            current <= 10,
            "{}: pids.current {current} above the limit",
            rt.name
        );
        let events = fs::read_to_string(dir.join("pids.events")).unwrap();
        let refused: u64 = events.trim().strip_prefix("max ").unwrap().parse().unwrap();
        assert!(refused > 0, "{}: no fork was refused: {events}", rt.name);
        rt.delete_force(&id);
    }
}

#[test]
fn update_refused_by_the_kernel_leaves_limits_unchanged() {
    for rt in Runtime::both() {
        let b = bundle_running("sleep 1000");
        let id = unique_id("updbad");
        let pid = start(&rt, &b, &id);
        let mem = cgroup_dir(pid, "memory");
        let cpuset = cgroup_dir(pid, "cpuset");
        assert_eq!(rt.exec(&["update", "--memory", "64M", &id]).code(), Some(0));
        let cpus = fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap();
        // 1 byte is below the usage: the kernel refuses.
        let out = rt.exec(&["update", "--memory", "1", &id]);
        assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
        // a cpu that does not exist
        let out = rt.exec(&["update", "--cpuset-cpus", "999", &id]);
        assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
        assert_eq!(
            fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap(),
            cpus
        );
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (64u64 << 20).to_string(),
            "{}",
            rt.name
        );
        if rt.name == "moat" {
            // Memory is written, then cpu.shares is refused: moat puts memory back.
            let out = rt.exec(&["update", "--memory", "32M", "--cpu-share", "1", &id]);
            assert_eq!(out.code(), Some(1), "moat:\n{}", out.describe());
            assert!(out.stderr_str().contains("cpu"), "{}", out.describe());
            assert_eq!(
                fs::read_to_string(mem.join("memory.limit_in_bytes"))
                    .unwrap()
                    .trim(),
                (64u64 << 20).to_string(),
                "moat left a half-applied update"
            );
            let out = rt.exec(&["update", "--memory", "abc", &id]);
            assert_eq!(out.code(), Some(1));
            assert!(
                out.stderr_str().contains("invalid size: 'abc'"),
                "{}",
                out.describe()
            );
        }
        rt.delete_force(&id);
    }
}

#[test]
fn events_stats_and_ps_json() {
    for rt in Runtime::both() {
        let b = bundle_running("sleep 1000");
        let id = unique_id("stats");
        let pid = start(&rt, &b, &id);
        let out = rt.exec(&["events", "--stats", &id]);
        assert_eq!(
            out.code(),
            Some(0),
            "{} events:\n{}",
            rt.name,
            out.describe()
        );
        let v: Value = serde_json::from_str(out.stdout_str().trim())
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", rt.name, out.describe()));
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], id.as_str());
        assert!(
            v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
            "{}: {v}",
            rt.name
        );
        assert!(v["data"]["memory"]["usage"]["limit"].as_u64().is_some());
        assert_eq!(v["data"]["pids"]["current"], 1, "{}: {v}", rt.name);
        assert!(v["data"]["cpu"]["usage"]["total"].as_u64().is_some());

        let out = rt.exec(&["ps", "-f", "json", &id]);
        assert_eq!(out.code(), Some(0), "{} ps:\n{}", rt.name, out.describe());
        let pids: Vec<i64> = serde_json::from_str(out.stdout_str().trim()).unwrap();
        assert_eq!(pids, vec![pid], "{}", rt.name);
        // table: ps's header plus the init's line only
        let out = rt.exec(&["ps", &id, "-o", "pid,comm"]);
        assert_eq!(out.code(), Some(0), "{} ps:\n{}", rt.name, out.describe());
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines[0], "PID COMMAND", "{}:\n{text}", rt.name);
        assert_eq!(lines.len(), 2, "{}:\n{text}", rt.name);
        assert_eq!(lines[1], format!("{pid} sleep"), "{}", rt.name);
        rt.delete_force(&id);
    }
}

#[test]
fn events_streams_stats_and_an_oom_kill_until_the_container_stops() {
    let rt = Runtime::moat();
    let b = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c", "sleep 1; x=a; while :; do x=$x$x; done"]);
        c["linux"]["resources"]["memory"] = json!({"limit": 20971520, "swap": 20971520});
    });
    let id = unique_id("oom");
    start(&rt, &b, &id);
    let out = rt.exec(&["events", "--interval", "200ms", &id]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let evs: Vec<Value> = out
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        evs.iter()
            .any(|e| e["type"] == "stats" && e["id"] == id.as_str()),
        "{evs:?}"
    );
    assert!(
        evs.iter().any(|e| *e == json!({"type": "oom", "id": id})),
        "no oom event: {}",
        out.stdout_str()
    );
    rt.delete_force(&id);
}

/// A CPU hog is throttled to its quota: with cpu.cfs_quota_us = 10 ms per
/// 100 ms period, a busy loop inside the container accumulates at most
/// ~10% of the wall time it runs for, and the cgroup counts throttled
/// periods. The same under runc.
#[test]
fn cpu_hog_is_throttled_to_its_quota() {
    for rt in Runtime::both() {
        let b = Bundle::new(|c| {
            c["process"]["args"] = json!(["sh", "-c", "while :; do :; done"]);
            c["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000});
        });
        let id = unique_id("cpuhog");
        let pid = start(&rt, &b, &id);
        let dir = cgroup_dir(pid, "cpuacct");
        let usage = || -> u64 {
            fs::read_to_string(dir.join("cpuacct.usage"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let u0 = usage();
        let t0 = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let used = (usage() - u0) as f64 / 1e9;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cgroup_dir(pid, "cpu");
        let stat = fs::read_to_string(cpu.join("cpu.stat")).unwrap();
        let throttled: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .unwrap()
            .parse()
            .unwrap();
        rt.delete_force(&id);
        // 10% of one CPU, with slack for the period boundaries.
        assert!(
            used / wall < 0.2,
            "{}: the hog used {used:.2}s CPU in {wall:.2}s",
            rt.name
        );
        assert!(throttled > 0, "{}: never throttled: {stat}", rt.name);
    }
}
