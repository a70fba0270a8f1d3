//! `run` exit statuses: the container's exit code, and 128+N when it dies of signal N.
//! Each case runs under runc (to prove the expectation) and moat.
mod common;

use common::*;
use serde_json::{json, Value};

fn run_expect(name: &str, modify: impl Fn(&mut Value), expected: i32) {
    for rt in Runtime::both() {
        let bundle = Bundle::new(&modify);
        let id = unique_id(name);
        let out = rt.run(&bundle, &id);
        assert_eq!(
            out.code(),
            Some(expected),
            "{}: run {name}: expected exit {expected}\n{}",
            rt.name,
            out.describe()
        );
        // `run` deletes the container when it exits.
        assert!(
            !rt.state_output(&id).status.success(),
            "{}: container {id} still exists after run",
            rt.name
        );
    }
}

#[test]
fn exit_7() {
    run_expect(
        "exit7",
        |c| c["process"]["args"] = json!(["sh", "-c", "exit 7"]),
        7,
    );
}

#[test]
fn true_is_0() {
    run_expect("true", |c| c["process"]["args"] = json!(["/bin/true"]), 0);
}

#[test]
fn false_is_1() {
    run_expect("false", |c| c["process"]["args"] = json!(["/bin/false"]), 1);
}

#[test]
fn exit_255() {
    run_expect(
        "exit255",
        |c| c["process"]["args"] = json!(["sh", "-c", "exit 255"]),
        255,
    );
}

/// Without a pid namespace the shell is an ordinary process and can signal itself.
#[test]
fn self_sigterm_is_143() {
    run_expect(
        "sigterm",
        |c| {
            c["process"]["args"] = json!(["sh", "-c", "kill -TERM $$; sleep 5"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "pid");
        },
        143,
    );
}

/// In a pid namespace the init ignores signals it has no handler for, except SIGKILL from
/// outside: kill it with `<runtime> kill ID KILL` while `run` waits in the foreground.
#[test]
fn sigkill_from_outside_is_137() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = unique_id("sigkill");
        let out = std::thread::scope(|s| {
            let runner = s.spawn(|| rt.run(&bundle, &id));
            rt.wait_status(&id, "running");
            let k = rt.kill(&id, "KILL");
            assert!(
                k.status.success(),
                "{}: kill failed:\n{}",
                rt.name,
                k.describe()
            );
            runner.join().unwrap()
        });
        assert_eq!(
            out.code(),
            Some(137),
            "{}: run killed by SIGKILL\n{}",
            rt.name,
            out.describe()
        );
    }
}
