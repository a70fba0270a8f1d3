//! Signals: a foreground `run` forwards what it receives to the container's init and exits
//! with the init's status; `kill` takes signal names and numbers as runc does; `kill --all`
//! reaches every process of the container's cgroup. Everything is checked against runc too.
mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// A container shell that exits with a distinct code per signal, and says "ready" on its
/// stdout once its traps are set (pid 1 of a pid namespace ignores signals it has no
/// handler for, so the traps are what makes the signal observable).
const TRAPS: &str = "trap 'exit 42' TERM; trap 'exit 43' USR1; trap 'exit 44' INT; \
                     trap 'exit 45' HUP; echo ready; while :; do sleep 0.1; done";

/// A runtime command started in the background, stdout/stderr in files.
struct Spawned {
    child: Child,
    out: TempDir,
    /// `run -d`: the runtime exits at once, the container keeps writing to our files.
    detached: bool,
}

impl Spawned {
    fn new(rt: &Runtime, args: &[&str]) -> Spawned {
        let out = TempDir::new("sig-out");
        let mut cmd = rt.command(args);
        cmd.stdout(fs::File::create(out.path().join("stdout")).unwrap());
        cmd.stderr(fs::File::create(out.path().join("stderr")).unwrap());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let detached = args.contains(&"-d");
        Spawned {
            child,
            out,
            detached,
        }
    }

    fn stdout_path(&self) -> PathBuf {
        self.out.path().join("stdout")
    }

    fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.out.path().join("stderr")).unwrap_or_default()
    }

    /// Waits (bounded) until stdout contains `needle`.
    fn wait_stdout(&mut self, needle: &str) {
        let deadline = Instant::now() + cmd_timeout();
        while !self.stdout().contains(needle) {
            if let Some(st) = (!self.detached)
                .then(|| self.child.try_wait().ok().flatten())
                .flatten()
            {
                panic!(
                    "exited {st:?} before printing {needle:?}\nstdout: {}\nstderr: {}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "never printed {needle:?}\nstdout: {}\nstderr: {}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        match wait_timeout(&mut self.child, cmd_timeout()) {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("runtime did not exit\nstderr: {}", self.stderr());
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: i32) {
    let r = match nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::try_from(sig).ok(),
    ) {
        Ok(()) => 0,
        Err(_) => -1,
    };
    assert_eq!(
        r,
        0,
        "kill {sig} {pid}: {}",
        std::io::Error::last_os_error()
    );
}

/// Foreground `run`, `sig` sent to the runtime process: the init gets it, exits `code`,
/// and the runtime exits `code` and removes the container.
fn forwarded(sig: i32, code: i32) {
    for rt in Runtime::both() {
        let id = unique_id("sig-fwd");
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sh", "-c", TRAPS]));
        let mut run = Spawned::new(&rt, &["run", "--bundle", bundle.path_str(), &id]);
        run.wait_stdout("ready");
        signal(run.child.id(), sig);
        let st = run.wait();
        assert_eq!(
            st.code(),
            Some(code),
            "{}: signal {sig} to foreground run: {st:?}\nstderr: {}",
            rt.name,
            run.stderr()
        );
        // The foreground run deleted its container.
        assert_eq!(rt.state_output(&id).code(), Some(1), "{}", rt.name);
        assert_nothing_left(&rt, &bundle, &id);
    }
}

#[test]
fn foreground_run_forwards_sigterm() {
    forwarded(nix::libc::SIGTERM, 42);
}

#[test]
fn foreground_run_forwards_sigusr1() {
    forwarded(nix::libc::SIGUSR1, 43);
}

#[test]
fn foreground_run_forwards_sigint() {
    forwarded(nix::libc::SIGINT, 44);
}

#[test]
fn foreground_run_forwards_sighup() {
    forwarded(nix::libc::SIGHUP, 45);
}

/// A forwarded signal the init does not handle kills it, and the runtime exits 128+n as
/// runc does. (The config drops the pid namespace: pid 1 of a pid namespace would ignore
/// SIGUSR2 without a handler.)
#[test]
fn foreground_run_unhandled_signal_kills_init_with_128_plus_n() {
    for rt in Runtime::both() {
        let id = unique_id("sig-fwd");
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sh", "-c", "echo ready; while :; do sleep 0.1; done"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "pid");
        });
        let mut run = Spawned::new(&rt, &["run", "--bundle", bundle.path_str(), &id]);
        run.wait_stdout("ready");
        signal(run.child.id(), nix::libc::SIGUSR2);
        let st = run.wait();
        assert_eq!(
            st.code(),
            Some(128 + nix::libc::SIGUSR2),
            "{}: {st:?}\nstderr: {}",
            rt.name,
            run.stderr()
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// `kill ID KILL|SIGKILL|9|kill`: every spelling stops the container.
#[test]
fn kill_accepts_names_and_numbers() {
    for rt in Runtime::both() {
        for form in ["KILL", "SIGKILL", "9", "kill"] {
            let id = unique_id("sig-kill");
            let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
            let out = rt.run_detached(&bundle, &id);
            assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
            let out = rt.kill(&id, form);
            assert_eq!(
                out.code(),
                Some(0),
                "{}: kill {form}: {}",
                rt.name,
                out.describe()
            );
            rt.wait_status(&id, "stopped");
            let out = rt.delete(&id);
            assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
            assert_nothing_left(&rt, &bundle, &id);
        }
    }
}

/// `kill` without a signal sends SIGTERM; `USR1`, `SIGUSR1`, `10`, `usr1` all reach the
/// init's trap (which counts them on stdout and keeps running).
#[test]
fn kill_default_is_term_and_named_signals_reach_the_init() {
    for rt in Runtime::both() {
        let id = unique_id("sig-names");
        let bundle =
            Bundle::new(|c| {
                c["process"]["args"] =
                    json!(["sh", "-c",
                "n=0; trap 'n=$((n+1)); echo usr1-$n' USR1; trap 'echo term; exit 42' TERM; \
                 echo ready; while :; do sleep 0.1; done"]);
            });
        // Detached: the container inherits the runtime's stdout (a file of ours) — kept
        // open by the container after `run -d` returns.
        let mut run = Spawned::new(&rt, &["run", "-d", "--bundle", bundle.path_str(), &id]);
        assert!(run.wait().success(), "{}: {}", rt.name, run.stderr());
        run.wait_stdout("ready");
        for (i, form) in ["USR1", "SIGUSR1", "10", "usr1"].iter().enumerate() {
            let out = rt.kill(&id, form);
            assert_eq!(
                out.code(),
                Some(0),
                "{}: kill {form}: {}",
                rt.name,
                out.describe()
            );
            run.wait_stdout(&format!("usr1-{}", i + 1));
        }
        assert_eq!(rt.state(&id)["status"], "running", "{}", rt.name);
        let out = rt.exec(&["kill", &id]);
        assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
        run.wait_stdout("term");
        rt.wait_status(&id, "stopped");
        assert_eq!(rt.delete(&id).code(), Some(0));
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// Unknown signals are refused with exit 1 and the container is untouched.
#[test]
fn kill_refuses_unknown_signals() {
    for rt in Runtime::both() {
        let id = unique_id("sig-bad");
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        assert_eq!(rt.run_detached(&bundle, &id).code(), Some(0));
        for bad in ["NOPE", "SIGNOPE", "0x9", "-9", "99"] {
            let out = rt.kill(&id, bad);
            assert_eq!(
                out.code(),
                Some(1),
                "{}: kill {bad}: {}",
                rt.name,
                out.describe()
            );
        }
        assert_eq!(rt.state(&id)["status"], "running", "{}", rt.name);
        assert_eq!(rt.delete_force(&id).code(), Some(0));
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// pids in every cgroup dir of the container.
fn cgroup_pids(id: &str) -> Vec<(PathBuf, Vec<String>)> {
    cgroup_dirs_named(id)
        .into_iter()
        .map(|d| {
            let p = fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            (d, p)
        })
        .collect()
}

/// `kill --all KILL` reaches the init and its background children: the cgroup empties.
#[test]
fn kill_all_empties_the_cgroup() {
    for rt in Runtime::both() {
        let id = unique_id("sig-all");
        let cg = format!("/{id}");
        let bundle = Bundle::new(|c| {
            c["linux"]["cgroupsPath"] = json!(cg);
            // The init ignores TERM (pid 1 without handler) and so do its children.
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "trap '' TERM; sleep 1000 & sleep 1000 & sleep 1000 & wait"
            ]);
        });
        assert_eq!(rt.run_detached(&bundle, &id).code(), Some(0), "{}", rt.name);
        // init + 3 sleeps, in every hierarchy the runtime put them in.
        let deadline = Instant::now() + cmd_timeout();
        loop {
            let most = cgroup_pids(&id).iter().map(|(_, p)| p.len()).max();
            if most == Some(4) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: container never had 4 processes: {:?}",
                rt.name,
                cgroup_pids(&id)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = rt.exec(&["kill", "--all", &id, "KILL"]);
        assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
        let deadline = Instant::now() + cmd_timeout();
        while cgroup_pids(&id).iter().any(|(_, p)| !p.is_empty()) {
            assert!(
                Instant::now() < deadline,
                "{}: processes left after kill --all KILL: {:?}",
                rt.name,
                cgroup_pids(&id)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        rt.wait_status(&id, "stopped");
        assert_eq!(rt.delete(&id).code(), Some(0), "{}", rt.name);
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// `kill --all TERM` reaches the children too: they have no handler and die, while the
/// init (pid 1, TERM trapped to "echo") lives on.
#[test]
fn kill_all_term_reaches_children() {
    for rt in Runtime::both() {
        let id = unique_id("sig-all");
        let cg = format!("/{id}");
        let bundle = Bundle::new(|c| {
            c["linux"]["cgroupsPath"] = json!(cg);
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "trap 'echo init-got-term' TERM; sleep 1000 & sleep 1000 & \
                 while :; do sleep 0.1; done"
            ]);
        });
        assert_eq!(rt.run_detached(&bundle, &id).code(), Some(0), "{}", rt.name);
        let pids_of = |id: &str| {
            cgroup_pids(id)
                .into_iter()
                .map(|(_, p)| p)
                .max_by_key(|p| p.len())
                .unwrap_or_default()
        };
        let init = rt.state(&id)["pid"].as_u64().unwrap().to_string();
        let deadline = Instant::now() + cmd_timeout();
        // The init and the two long sleeps (a short `sleep 0.1` may come and go).
        let long_sleeps = |id: &str| {
            pids_of(id)
                .into_iter()
                .filter(|p| {
                    fs::read(format!("/proc/{p}/cmdline"))
                        .map(|c| c.ends_with(b"1000\0"))
                        .unwrap_or(false)
                })
                .count()
        };
        while long_sleeps(&id) < 2 {
            assert!(Instant::now() < deadline, "{}: {:?}", rt.name, pids_of(&id));
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = rt.exec(&["kill", "--all", &id, "TERM"]);
        assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
        while long_sleeps(&id) > 0 {
            assert!(Instant::now() < deadline, "{}: {:?}", rt.name, pids_of(&id));
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(pids_of(&id).contains(&init), "{}: init died", rt.name);
        assert_eq!(rt.state(&id)["status"], "running", "{}", rt.name);
        assert_eq!(rt.delete_force(&id).code(), Some(0));
        assert_nothing_left(&rt, &bundle, &id);
    }
}
