//! Honesty of the checks: every check must report `exposed` on a deliberately weak config
//! (positive control) and `blocked` on a config that closes it (negative control), both run
//! with runc (the reference runtime). A check the host cannot exercise at all (its kernel lacks
//! the syscall or the file) must say so as `skipped`, identically in both controls — never
//! `blocked`. A check that cannot fail is a defect, so the test also asserts that every
//! non-host-skipped check flips between the two controls.
//!
//! Needs root, /usr/sbin/runc (or $RUNC_BINARY), /bin/busybox and the static probe
//! (crates/audit/build-probe.sh).

use moat_audit::checks::Verdict;
use moat_audit::profiles::Scenario;
use moat_audit::report;
use moat_audit::runner::{self, AuditRun, Options, RuntimeCmd};
use std::path::PathBuf;
use std::time::Duration;

fn probe() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/x86_64-unknown-linux-gnu/release/moat-audit-probe");
    runner::find_probe(Some(&p)).unwrap_or_else(|e| {
        panic!("{e}\nbuild the static probe first: crates/audit/build-probe.sh")
    })
}

fn runc() -> RuntimeCmd {
    let bin = std::env::var("RUNC_BINARY").unwrap_or_else(|_| "/usr/sbin/runc".into());
    RuntimeCmd::parse(&format!("runc={bin}")).unwrap()
}

fn opts() -> Options {
    Options {
        probe: probe(),
        timeout: Duration::from_secs(60),
        tmp: None,
    }
}

fn host_skip(v: &Verdict) -> bool {
    matches!(v, Verdict::Skipped(r) if r.contains("cannot be tested here"))
}

fn audit(s: &Scenario) -> AuditRun {
    let run = runner::audit(&runc(), s, &opts()).expect("audit");
    eprintln!("{}", report::table(&run));
    if let Some(e) = run.observations.a["error"].as_str() {
        panic!("{}: tenant A did not run: {e}", s.name);
    }
    if let Some(e) = run.observations.b["error"].as_str() {
        panic!("{}: tenant B did not run: {e}", s.name);
    }
    assert!(
        run.cleanup.is_empty(),
        "cleanup problems: {:?}",
        run.cleanup
    );
    run
}

fn weak() -> Scenario {
    let disk = runner::host_disk();
    Scenario::weak(
        disk.as_ref()
            .map(|(n, a, b)| (format!("/dev/{n}"), *a, *b))
            .as_ref()
            .map(|(p, a, b)| (p.as_str(), *a, *b)),
        std::path::Path::new("/tmp"),
        runner::own_bounding_set(),
    )
}

#[test]
fn positive_control_every_check_exposed() {
    let run = audit(&weak());
    let bad: Vec<String> = run
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Exposed && !host_skip(&r.verdict))
        .map(|r| format!("{}: {:?} — {}", r.id, r.verdict, r.evidence))
        .collect();
    assert!(
        bad.is_empty(),
        "not exposed on the weak config:\n{}",
        bad.join("\n")
    );
}

#[test]
fn negative_control_every_check_blocked() {
    let run = audit(&Scenario::strict());
    let bad: Vec<String> = run
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Blocked && !host_skip(&r.verdict))
        .map(|r| format!("{}: {:?} — {}", r.id, r.verdict, r.evidence))
        .collect();
    assert!(
        bad.is_empty(),
        "not blocked on the strict config:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_check_can_fail_and_can_pass() {
    let w = audit(&weak());
    let s = audit(&Scenario::strict());
    let mut host_skipped = vec![];
    for (a, b) in w.results.iter().zip(&s.results) {
        assert_eq!(a.id, b.id);
        if host_skip(&a.verdict) || host_skip(&b.verdict) {
            assert!(
                host_skip(&a.verdict) && host_skip(&b.verdict),
                "{}: a host-dependent skip must not depend on the config: {:?} / {:?}",
                a.id,
                a.verdict,
                b.verdict
            );
            host_skipped.push(a.id);
            continue;
        }
        assert_eq!(a.verdict, Verdict::Exposed, "{}", a.id);
        assert_eq!(b.verdict, Verdict::Blocked, "{}", b.id);
    }
    eprintln!("skipped on this host (kernel lacks the interface): {host_skipped:?}");
    assert!(w.results.len() - host_skipped.len() >= 40);
}

#[test]
fn default_config_runs_and_leaves_nothing() {
    let run = audit(&Scenario::default_());
    assert!(
        !run.observations.a["error"].is_string(),
        "{}",
        run.observations.a
    );
    assert!(
        run.observations.b["ready"]["ready"] == true,
        "{}",
        run.observations.b
    );
    // nothing of ours is left: no process mentioning the probe, no temp dir of this run
    let token_pids: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("moat-audit-probe"))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // other tests of this binary may run their own probes concurrently: only B's ttl-bound
    // sleeper of *this* run matters, and its pid is known
    let bpid = run.observations.b["host_pid"].as_i64().unwrap();
    assert!(
        !token_pids.contains(&bpid.to_string()),
        "tenant B (pid {bpid}) still running"
    );
}

/// `lint` predicts the dynamic audit: on the same config, every lint finding that has a
/// dynamic check is measured EXPOSED by runc (a runtime that adds nothing), and every check
/// runc's audit finds EXPOSED is predicted by lint, except what a config alone cannot show
/// (listed, with why).
#[test]
fn lint_agrees_with_the_dynamic_audit() {
    use moat_audit::lint;
    // A config cannot show these: the per-syscall checks are folded into priv.seccomp when no
    // profile is loaded; the cross-tenant uid check needs the other tenant; the keyring and
    // fd checks are runtime flags (--no-new-keyring, --preserve-fds), not config; ptrace of
    // one's own processes and mknod of a char device are reachable with no capability config.
    let folded = |id: &str, lint_ids: &[&str]| {
        (id.starts_with("sys.") && lint_ids.contains(&"priv.seccomp"))
            || matches!(
                id,
                "xt.shared_host_uid"
                    | "xt.shared_keyring"
                    | "rt.leaked_fds"
                    | "sys.ptrace"
                    | "sys.syslog"
                    | "kern.kallsyms"
                    | "kern.release_agent"
                    | "rt.runtime_exe_writable"
            )
            // with the host's namespaces shared, the A->B checks follow from info.host_*
            || (id.starts_with("xt.") && lint_ids.iter().any(|l| l.starts_with("info.host_")))
            // privileged syscalls are exposed by the capabilities lint reports
            || (id.starts_with("sys.") && lint_ids.iter().any(|l| l.starts_with("priv.cap_")))
    };
    for s in [
        Scenario::default_(),
        Scenario::docker_like(),
        weak(),
        Scenario::strict(),
    ] {
        let run = audit(&s);
        let found = lint::lint(&s.config_a).expect("lint");
        let lint_ids: Vec<&str> = found.iter().map(|f| f.id).collect();
        eprintln!("{}: lint {lint_ids:?}", s.name);
        for f in &found {
            let Some(r) = run.results.iter().find(|r| r.id == f.id) else {
                continue; // a lint.* finding: no dynamic counterpart
            };
            assert!(
                r.verdict == Verdict::Exposed || host_skip(&r.verdict),
                "{}: lint says {} ({}) but runc's audit measured {:?}: {}",
                s.name,
                f.id,
                f.evidence,
                r.verdict,
                r.evidence
            );
        }
        for r in &run.results {
            if r.verdict == Verdict::Exposed && !lint_ids.contains(&r.id) {
                assert!(
                    folded(r.id, &lint_ids),
                    "{}: runc's audit found {} exposed ({}) but lint did not predict it",
                    s.name,
                    r.id,
                    r.evidence
                );
            }
        }
    }
}
