//! Output: one audit as a table or JSON, several side by side.

use crate::checks::{score, CheckResult, Verdict};
use crate::runner::AuditRun;
use serde_json::{json, Value};

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn result_json(r: &CheckResult) -> Value {
    let mut v = json!({
        "id": r.id,
        "category": r.category,
        "title": r.title,
        "verdict": match r.verdict { Verdict::Blocked => "blocked", Verdict::Exposed => "exposed",
                                     Verdict::Skipped(_) => "skipped" },
        "severity": r.severity.as_str(),
        "evidence": r.evidence,
        "meaning": r.meaning,
        "remedy": r.remedy,
    });
    if let Verdict::Skipped(why) = &r.verdict {
        v["skip_reason"] = json!(why);
    }
    v
}

pub fn run_json(run: &AuditRun) -> Value {
    let (e, b, s, sc) = score(&run.results);
    json!({
        "runtime": run.runtime,
        "config": run.scenario,
        "summary": {"exposed": e, "blocked": b, "skipped": s, "score": sc},
        "checks": run.results.iter().map(result_json).collect::<Vec<_>>(),
        "cleanup_problems": run.cleanup,
        "observations": {"host": run.observations.host, "tenant_a": run.observations.a,
                         "tenant_b": run.observations.b},
    })
}

/// The report of one audit: a row per check; below each exposed one, what it means and the
/// fix.
pub fn table(run: &AuditRun) -> String {
    let (e, b, s, sc) = score(&run.results);
    let mut out = format!(
        "moat audit: runtime {} — config {}\n{} exposed, {} blocked, {} skipped — score {}/100 \
         (severity-weighted share of runnable checks that are blocked)\n\n",
        run.runtime, run.scenario, e, b, s, sc
    );
    let w = run.results.iter().map(|r| r.id.len()).max().unwrap_or(10);
    out.push_str(&format!(
        "{:<w$}  {:<8} {:<9} EVIDENCE\n",
        "CHECK", "VERDICT", "SEVERITY"
    ));
    for r in &run.results {
        out.push_str(&format!(
            "{:<w$}  {:<8} {:<9} {}\n",
            r.id,
            r.verdict.label(),
            r.severity.as_str(),
            one_line(&r.evidence, 110)
        ));
        if r.verdict == Verdict::Exposed {
            out.push_str(&format!("{:<w$}  ↳ means: {}\n", "", r.meaning));
            out.push_str(&format!("{:<w$}  ↳ fix:   {}\n", "", r.remedy));
        }
    }
    for c in &run.cleanup {
        out.push_str(&format!("cleanup: {c}\n"));
    }
    out
}

/// The catalogue's severity (a single run may lower it for a private user namespace; a
/// comparison shows the runtime-independent one).
fn catalogue_severity(c: &CheckResult) -> &'static str {
    crate::checks::def(c.id)
        .map(|d| d.severity)
        .unwrap_or(c.severity)
        .as_str()
}

/// Side by side: a row per check, a column per audited runtime.
pub fn compare_table(runs: &[AuditRun]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let w = first.results.iter().map(|r| r.id.len()).max().unwrap_or(10);
    let cw = runs
        .iter()
        .map(|r| r.runtime.len())
        .max()
        .unwrap_or(8)
        .max(9)
        + 2;
    let mut out = format!("config: {}\n", first.scenario);
    out.push_str(&format!("{:<w$}  {:<8}", "CHECK", "SEVERITY"));
    for r in runs {
        out.push_str(&format!(" {:<cw$}", r.runtime));
    }
    out.push('\n');
    for (i, c) in first.results.iter().enumerate() {
        out.push_str(&format!("{:<w$}  {:<8}", c.id, catalogue_severity(c)));
        for r in runs {
            let v = r.results.get(i).map(|x| x.verdict.label()).unwrap_or("?");
            out.push_str(&format!(" {v:<cw$}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("{:<w$}  {:<8}", "exposed/blocked/skipped", ""));
    for r in runs {
        let (e, b, s, _) = score(&r.results);
        out.push_str(&format!(" {:<cw$}", format!("{e}/{b}/{s}")));
    }
    out.push('\n');
    out.push_str(&format!("{:<w$}  {:<8}", "score (100 = all blocked)", ""));
    for r in runs {
        let (_, _, _, sc) = score(&r.results);
        out.push_str(&format!(" {sc:<cw$}"));
    }
    out.push('\n');
    let skips: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.results.iter().filter_map(move |c| match &c.verdict {
                Verdict::Skipped(why) => Some(format!("{} / {}: {}", r.runtime, c.id, why)),
                _ => None,
            })
        })
        .collect();
    if !skips.is_empty() {
        out.push_str("\nskipped:\n");
        for s in skips {
            out.push_str(&format!("  {s}\n"));
        }
    }
    for r in runs {
        for c in &r.cleanup {
            out.push_str(&format!("cleanup ({}): {c}\n", r.runtime));
        }
    }
    out
}

/// Markdown version of [`compare_table`] (for docs).
pub fn compare_markdown(runs: &[AuditRun]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let mut out = String::from("| check | severity |");
    for r in runs {
        out.push_str(&format!(" {} |", r.runtime));
    }
    out.push_str("\n|---|---|");
    for _ in runs {
        out.push_str("---|");
    }
    out.push('\n');
    for (i, c) in first.results.iter().enumerate() {
        out.push_str(&format!("| `{}` | {} |", c.id, catalogue_severity(c)));
        for r in runs {
            let v = r.results.get(i).map(|x| x.verdict.label()).unwrap_or("?");
            out.push_str(&format!(" {v} |"));
        }
        out.push('\n');
    }
    out.push_str("| **exposed / blocked / skipped** | |");
    for r in runs {
        let (e, b, s, _) = score(&r.results);
        out.push_str(&format!(" {e} / {b} / {s} |"));
    }
    out.push_str("\n| **score** | |");
    for r in runs {
        out.push_str(&format!(" {} |", score(&r.results).3));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{evaluate, Observations};

    fn run(name: &str) -> AuditRun {
        let o = Observations::default();
        AuditRun {
            runtime: name.into(),
            scenario: "default".into(),
            results: evaluate(&o),
            observations: o,
            cleanup: vec![],
        }
    }

    #[test]
    fn compare_has_a_row_per_check_and_a_column_per_runtime() {
        let t = compare_table(&[run("runc"), run("crun")]);
        assert!(t.contains("priv.seccomp"));
        assert!(t.lines().nth(1).unwrap().contains("crun"));
        let m = compare_markdown(&[run("runc"), run("crun")]);
        assert_eq!(
            m.lines().filter(|l| l.starts_with("| `")).count(),
            crate::CHECKS.len()
        );
    }

    #[test]
    fn json_has_every_field() {
        let v = run_json(&run("runc"));
        let c = &v["checks"][0];
        for k in [
            "id",
            "verdict",
            "severity",
            "evidence",
            "meaning",
            "remedy",
            "skip_reason",
        ] {
            assert!(!c[k].is_null(), "{k}");
        }
    }
}
