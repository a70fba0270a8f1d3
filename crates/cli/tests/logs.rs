//! `--log FILE --log-format json|text`, as containerd drives it: on a failing `create` the
//! log file's last line is an error record naming the failed step and path, stderr has the
//! bare message, and containerd's parsing rule (go-runc's `getLastRuntimeError`: decode
//! every line as `{level, msg, time}`, keep the msg of the last `level: "error"` one, and
//! surface it to the user) gets a useful message. Compared with runc's log for the same
//! failure.
mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;

/// Runs `create` with `--log LOG --log-format FORMAT` for `bundle`; returns (output, log
/// file contents).
fn create_logged(
    rt: &Runtime,
    bundle: &Bundle,
    id: &str,
    format: &str,
) -> (std::process::Output, String) {
    let dir = TempDir::new("log");
    let log = dir.path().join("runtime.log");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        format,
        "create",
        "--bundle",
        bundle.path_str(),
        id,
    ]);
    let text = fs::read_to_string(&log).unwrap_or_default();
    (out, text)
}

/// containerd's rule (go-runc `getLastRuntimeError`): the msg of the last line whose JSON
/// has `"level": "error"`; lines that do not decode are skipped.
fn containerd_last_error(log: &str) -> Option<String> {
    let mut last = None;
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["level"] == "error" {
            last = v["msg"].as_str().map(String::from);
        }
    }
    last
}

/// RFC 3339 as logrus writes it by default: `2006-01-02T15:04:05Z07:00` (UTC: ends in Z).
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (t.ends_with('Z') || t[19..].contains(['+', '-']))
        && t[..4].parse::<u32>().is_ok()
}

/// A failing create under `--log-format json`: the JSON error record of each runtime.
/// Returns (runtime name, last log line parsed, stderr, containerd's msg).
fn json_failure(rt: &Runtime, bundle: &Bundle, id: &str) -> (Value, String, String) {
    let (out, log) = create_logged(rt, bundle, id, "json");
    assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
    let last = log
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{}: empty log file\n{}", rt.name, out.describe()));
    let rec: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{}: last log line is not JSON ({e}): {last:?}", rt.name));
    assert!(rec.is_object(), "{}: {last}", rt.name);
    assert_eq!(rec["level"], "error", "{}: {last}", rt.name);
    let time = rec["time"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no time: {last}", rt.name));
    assert!(is_rfc3339(time), "{}: time {time:?}", rt.name);
    let msg = rec["msg"].as_str().unwrap_or_default().to_string();
    assert!(!msg.is_empty(), "{}: {last}", rt.name);
    // stderr: the bare message (no logrus decoration) when a log file is given.
    let stderr = out.stderr_str();
    assert!(
        stderr.contains(&msg) && !stderr.contains("level="),
        "{}: stderr should be the plain message {msg:?}:\n{stderr}",
        rt.name
    );
    let surfaced = containerd_last_error(&log)
        .unwrap_or_else(|| panic!("{}: containerd finds no error in {log:?}", rt.name));
    assert_eq!(surfaced, msg, "{}", rt.name);
    assert_nothing_left(rt, bundle, id);
    (rec, stderr, surfaced)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Missing rootfs: the error record names the rootfs path; same keys as runc's.
#[test]
fn json_log_missing_rootfs() {
    let mut recs = vec![];
    for rt in Runtime::all() {
        let bundle = Bundle::new(|_| {});
        fs::remove_dir_all(bundle.rootfs()).unwrap();
        let id = unique_id("log-rootfs");
        let (rec, stderr, surfaced) = json_failure(&rt, &bundle, &id);
        let rootfs = bundle.rootfs();
        assert!(
            surfaced.contains(rootfs.to_str().unwrap()),
            "{}: containerd would show {surfaced:?}, which does not name {}",
            rt.name,
            rootfs.display()
        );
        eprintln!("{}: log record {rec}\n  stderr: {}", rt.name, stderr.trim());
        recs.push((rt.name, rec));
    }
    let runc_keys = keys(&recs[0].1);
    for (name, rec) in &recs[1..] {
        assert_eq!(keys(rec), runc_keys, "{name} vs runc log record keys");
    }
    // Exactly logrus's three fields.
    assert_eq!(
        runc_keys,
        ["level", "msg", "time"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// A bind mount whose source does not exist: the record names the step (mount) and the
/// missing source.
#[test]
fn json_log_missing_mount_source() {
    for rt in Runtime::all() {
        let id = unique_id("log-mount");
        let missing = format!("/nonexistent-src-{id}");
        let bundle = Bundle::new(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": missing, "options": ["rbind"]
            }));
        });
        let (rec, _, surfaced) = json_failure(&rt, &bundle, &id);
        eprintln!("{}: log record {rec}", rt.name);
        assert!(
            surfaced.contains(&missing),
            "{}: {surfaced:?} should name {missing}",
            rt.name
        );
        assert!(
            surfaced.contains("mount"),
            "{}: {surfaced:?} should name the mount step",
            rt.name
        );
    }
}

/// The log file is appended to: two failures give two error records, containerd takes
/// the second one's message.
#[test]
fn json_log_appends_and_containerd_takes_the_last_error() {
    for rt in Runtime::both() {
        let dir = TempDir::new("log");
        let log = dir.path().join("runtime.log");
        fs::write(&log, "not json at all\n{\"level\":\"info\",\"msg\":\"hello\",\"time\":\"2020-01-01T00:00:00Z\"}\n").unwrap();
        let mut ids = vec![];
        for name in ["log-first", "log-second"] {
            let bundle = Bundle::new(|_| {});
            fs::remove_dir_all(bundle.rootfs()).unwrap();
            let id = unique_id(name);
            let out = rt.exec(&[
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                "json",
                "create",
                "--bundle",
                bundle.path_str(),
                &id,
            ]);
            assert_eq!(out.code(), Some(1), "{}: {}", rt.name, out.describe());
            ids.push((id, bundle));
        }
        let text = fs::read_to_string(&log).unwrap();
        let errors: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .collect();
        assert_eq!(errors.len(), 2, "{}: {text}", rt.name);
        assert!(text.starts_with("not json at all\n"), "{}: {text}", rt.name);
        let surfaced = containerd_last_error(&text).unwrap();
        assert!(
            surfaced.contains(ids[1].1.path_str()),
            "{}: {surfaced:?} is the second failure's",
            rt.name
        );
    }
}

/// Parses `time="…" level=error msg="…"` (logrus's text formatter, no colors) into
/// (time, level, msg); msg unquoted as Go's %q.
fn parse_text_line(line: &str) -> Option<(String, String, String)> {
    let rest = line.strip_prefix("time=\"")?;
    let (time, rest) = rest.split_once("\" level=")?;
    let (level, rest) = rest.split_once(" msg=")?;
    let msg: String = serde_json::from_str(rest.trim_end()).ok()?;
    Some((time.to_string(), level.to_string(), msg))
}

/// `--log-format text`: `time="…" level=error msg="…"`, as runc's.
#[test]
fn text_log_line_format() {
    let mut msgs = vec![];
    for rt in Runtime::both() {
        let bundle = Bundle::new(|_| {});
        fs::remove_dir_all(bundle.rootfs()).unwrap();
        let id = unique_id("log-text");
        let (out, log) = create_logged(&rt, &bundle, &id, "text");
        assert_eq!(out.code(), Some(1), "{}: {}", rt.name, out.describe());
        let last = log
            .lines()
            .last()
            .unwrap_or_else(|| panic!("{}: empty log", rt.name));
        let (time, level, msg) = parse_text_line(last)
            .unwrap_or_else(|| panic!("{}: not a logrus text line: {last:?}", rt.name));
        assert!(is_rfc3339(&time), "{}: {time:?}", rt.name);
        assert_eq!(level, "error", "{}: {last}", rt.name);
        assert!(
            msg.contains(bundle.rootfs().to_str().unwrap()),
            "{}: {msg:?}",
            rt.name
        );
        assert!(
            out.stderr_str().contains(&msg),
            "{}: {}",
            rt.name,
            out.describe()
        );
        eprintln!("{}: {last}", rt.name);
        msgs.push(msg);
        assert_nothing_left(&rt, &bundle, &id);
    }
}

/// Without `--log`, the error goes to stderr as a logrus text line.
#[test]
fn no_log_file_means_text_line_on_stderr() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|_| {});
        fs::remove_dir_all(bundle.rootfs()).unwrap();
        let id = unique_id("log-stderr");
        let out = rt.create(&bundle, &id);
        assert_eq!(out.code(), Some(1), "{}", out.describe());
        let stderr = out.stderr_str();
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("time="))
            .unwrap_or_else(|| panic!("{}: no log line on stderr:\n{stderr}", rt.name));
        let (_, level, msg) = parse_text_line(line)
            .unwrap_or_else(|| panic!("{}: not a logrus text line: {line:?}", rt.name));
        assert_eq!(level, "error", "{}", rt.name);
        assert!(
            msg.contains(bundle.rootfs().to_str().unwrap()),
            "{}: {msg}",
            rt.name
        );
    }
}
