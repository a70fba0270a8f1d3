//! `moat audit lint` and the HTML report, through the binary: exit codes, messages, files.
//! The HTML test needs root, runc, busybox and the static probe (crates/audit/build-probe.sh).

mod common;

use common::{runc_path, workspace_root, TempDir};
use moat_audit::profiles::{default_config, Scenario};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .output()
        .expect("run moat")
}

fn bundle_with(cfg: &Value) -> TempDir {
    let d = TempDir::new("lint");
    std::fs::write(
        d.path().join("config.json"),
        serde_json::to_vec_pretty(cfg).unwrap(),
    )
    .unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn lint_reports_a_weak_config_and_exits_0() {
    let mut cfg = Scenario::strict().config_a;
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "destination": "/var/run/docker.sock", "type": "bind",
        "source": "/var/run/docker.sock", "options": ["rbind", "ro"]}));
    cfg["process"]["noNewPrivileges"] = Value::Bool(false);
    let b = bundle_with(&cfg);
    let o = moat(&["audit", "lint", "--bundle", b.path().to_str().unwrap()]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("lint.sensitive_mount"), "{out}");
    assert!(out.contains("/var/run/docker.sock"), "{out}");
    assert!(out.contains("priv.no_new_privs"), "{out}");
    assert!(out.contains("2 findings"), "{out}");

    let o = moat(&[
        "audit",
        "lint",
        "-b",
        b.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).expect("lint --format json is JSON");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"lint.sensitive_mount") && ids.contains(&"priv.no_new_privs"));
}

#[test]
fn lint_of_the_hardened_control_finds_nothing() {
    let b = bundle_with(&Scenario::strict().config_a);
    let o = moat(&["audit", "lint", "--bundle", b.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stdout).contains("0 findings"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn lint_of_runc_spec_finds_what_runc_leaves_open() {
    let b = bundle_with(&default_config());
    let o = moat(&[
        "audit",
        "lint",
        "--bundle",
        b.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["findings"], 7, "{v}");
}

#[test]
fn lint_bad_input_exits_1_naming_the_path() {
    let missing = TempDir::new("lint-missing");
    let o = moat(&[
        "audit",
        "lint",
        "--bundle",
        missing.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let want = missing.path().join("config.json");
    assert!(err.contains(&*want.to_string_lossy()), "{err}");
    assert!(o.stdout.is_empty());

    let b = TempDir::new("lint-bad");
    std::fs::write(b.path().join("config.json"), "{\"process\": ").unwrap();
    let o = moat(&["audit", "lint", "--bundle", b.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("parse") && err.contains("config.json"),
        "{err}"
    );

    std::fs::write(
        b.path().join("config.json"),
        r#"{"linux": {"namespaces": "pid"}}"#,
    )
    .unwrap();
    let o = moat(&["audit", "lint", "--bundle", b.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("config.json") && err.contains("linux.namespaces"),
        "{err}"
    );
}

fn probe() -> String {
    let p = workspace_root().join("target/x86_64-unknown-linux-gnu/release/moat-audit-probe");
    assert!(
        Path::new(&p).is_file(),
        "build the static probe first: crates/audit/build-probe.sh"
    );
    p.to_string_lossy().into_owned()
}

#[test]
fn audit_html_report_is_written_and_the_table_still_printed() {
    let d = TempDir::new("html");
    let page = d.path().join("report.html");
    let rt = format!("runc={}", runc_path().display());
    let o = moat(&[
        "audit",
        "run",
        "--runtime",
        &rt,
        "--probe",
        &probe(),
        "--format",
        "html",
        "--html",
        page.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.starts_with("moat audit: runtime runc"), "{out}");
    assert!(
        text(&o.stderr).contains(&*page.to_string_lossy()),
        "{}",
        text(&o.stderr)
    );
    let h = std::fs::read_to_string(&page).expect("the HTML report was written");
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.contains("%\">runc</th>"));
    for d in moat_audit::CHECKS {
        assert!(h.contains(&format!("id=\"{}\"", d.id)), "{}", d.id);
    }
    // the machine's facts are in it
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(h.contains(kernel.trim()));

    // `--html -`: the page on stdout instead of the table
    let o = moat(&[
        "audit",
        "run",
        "--runtime",
        &rt,
        "--probe",
        &probe(),
        "--html",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("<!DOCTYPE html>"));
}
