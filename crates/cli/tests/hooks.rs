//! All six hook kinds write the state JSON they get on stdin (and their env) into a directory
//! shared with the host; order, status and content are compared between runc and moat.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

const KINDS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Returns (order of hook runs, kind -> state JSON, kind -> HOOK_ENV value).
fn run_hooks(rt: &Runtime) -> (Vec<String>, Value, Value, String, String) {
    let out_dir = TempDir::new("hooks");
    let host_dir = out_dir.path().to_str().unwrap().to_string();
    let bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c", "echo main-ran"]);
        c["annotations"] = json!({"org.moat.e2e": "hooks", "second": "2"});
        // startContainer runs inside the container (after pivot_root): it writes through
        // this bind mount. The others run with the host's (or pre-pivot) view of the fs.
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/hooks", "type": "bind", "source": host_dir, "options": ["rbind", "rw"]
        }));
        let mut hooks = serde_json::Map::new();
        for kind in KINDS {
            let dir = if *kind == "startContainer" {
                "/hooks"
            } else {
                host_dir.as_str()
            };
            let script = format!(
                "cat > {dir}/{kind}.json; echo \"$HOOK_ENV\" > {dir}/{kind}.env; \
                 echo {kind} >> {dir}/order"
            );
            hooks.insert(
                kind.to_string(),
                json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "env": [format!("HOOK_ENV={kind}-env")]}]),
            );
        }
        c["hooks"] = Value::Object(hooks);
    });
    let id = unique_id("hooks");
    let out = rt.run(&bundle, &id);
    assert_eq!(
        out.code(),
        Some(0),
        "{}: run with hooks:\n{}",
        rt.name,
        out.describe()
    );
    assert!(
        out.stdout_str().contains("main-ran"),
        "{}:\n{}",
        rt.name,
        out.describe()
    );

    let order: Vec<String> = fs::read_to_string(out_dir.path().join("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let mut states = serde_json::Map::new();
    let mut envs = serde_json::Map::new();
    for kind in KINDS {
        let s =
            fs::read_to_string(out_dir.path().join(format!("{kind}.json"))).unwrap_or_else(|e| {
                panic!(
                    "{}: hook {kind} wrote no state ({e}); order {order:?}",
                    rt.name
                )
            });
        let v: Value = serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("{}: hook {kind} got bad state JSON ({e}): {s:?}", rt.name));
        states.insert(kind.to_string(), v);
        let e = fs::read_to_string(out_dir.path().join(format!("{kind}.env"))).unwrap_or_default();
        envs.insert(kind.to_string(), e.trim().into());
    }
    (
        order,
        Value::Object(states),
        Value::Object(envs),
        bundle.path_str().to_string(),
        id,
    )
}

/// Status each hook sees in its state, as runc 1.1.5 reports it.
const EXPECTED_STATUS: &[(&str, &str)] = &[
    ("prestart", "creating"),
    ("createRuntime", "creating"),
    ("createContainer", "creating"),
    ("startContainer", "created"),
    // runc 1.1 surprise: poststart hooks get status "created", not "running" (runc builds
    // the state while the exec fifo still exists). The spec says the user process has
    // started by then, so moat may say "running": both are accepted, and the field is left
    // out of the runc/moat comparison.
    ("poststart", "created|running"),
    ("poststop", "stopped"),
];

#[test]
fn all_hooks_run_in_order_with_state() {
    let mut normalized = vec![];
    for rt in Runtime::both() {
        let (order, states, envs, bundle, id) = run_hooks(&rt);
        // runc 1.1 runs startContainer in the container's init after `start` releases it,
        // and poststart in the runtime right after the release: the two race (observed
        // order under runc: ... createContainer, poststart, startContainer, poststop).
        // Only the rest of the order is asserted.
        assert_eq!(order.len(), KINDS.len(), "{}: hook runs {order:?}", rt.name);
        assert_eq!(order[..3], KINDS[..3], "{}: hook order {order:?}", rt.name);
        let mut middle = order[3..5].to_vec();
        middle.sort();
        assert_eq!(
            middle,
            ["poststart", "startContainer"],
            "{}: hook order {order:?}",
            rt.name
        );
        assert_eq!(order[5], "poststop", "{}: hook order {order:?}", rt.name);
        for kind in KINDS {
            let s = &states[*kind];
            assert_eq!(s["id"], id.as_str(), "{}: {kind} state: {s:#}", rt.name);
            assert_eq!(
                s["bundle"],
                bundle.as_str(),
                "{}: {kind} state: {s:#}",
                rt.name
            );
            assert!(
                s["ociVersion"].is_string(),
                "{}: {kind} state: {s:#}",
                rt.name
            );
            assert_eq!(
                s["annotations"]["org.moat.e2e"], "hooks",
                "{}: {kind} state: {s:#}",
                rt.name
            );
            assert_eq!(
                envs[*kind],
                format!("{kind}-env"),
                "{}: {kind} env",
                rt.name
            );
        }
        let wrong: Vec<String> = EXPECTED_STATUS
            .iter()
            .filter(|(kind, st)| !st.split('|').any(|s| states[*kind]["status"] == s))
            .map(|(kind, st)| format!("{kind}: expected {st}, got {}", states[*kind]["status"]))
            .collect();
        assert!(
            wrong.is_empty(),
            "{}: hook states: {wrong:#?}\n{states:#}",
            rt.name
        );
        for kind in [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
        ] {
            let pid = states[kind]["pid"].as_u64().unwrap_or(0);
            assert!(
                pid > 0,
                "{}: {kind} state has no pid: {:#}",
                rt.name,
                states[kind]
            );
        }
        // Normalize for the runc/moat comparison: pids differ, so do ids and bundle paths.
        let text = states
            .to_string()
            .replace(&bundle, "<bundle>")
            .replace(&id, "<id>");
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["poststart"].as_object_mut().unwrap().remove("status");
        for kind in KINDS {
            if let Some(o) = v[*kind].as_object_mut() {
                let had_pid = o.remove("pid").is_some_and(|p| p.as_u64().unwrap_or(0) > 0);
                o.insert("pid>0".into(), had_pid.into());
            }
        }
        normalized.push(v);
    }
    assert_json_eq("runc", &normalized[0], "moat", &normalized[1]);
}
