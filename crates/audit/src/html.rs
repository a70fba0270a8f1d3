//! The HTML report: one self-contained file (inline CSS, no script, no external asset, a
//! Content-Security-Policy that forbids loading anything), readable offline and safe to open.
//!
//! Everything that comes from an audit — evidence, skip reasons, runtime names, host facts — is
//! text written by (or about) a hostile container and is escaped with [`escape`] before it
//! reaches the page. Only the fixed markup of this module is unescaped.

use crate::checks::{def, score, CheckResult, Verdict, CHECKS};
use crate::runner::AuditRun;

/// HTML-escapes text for element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // control characters (other than newline and tab) render as a visible escape
            c if c.is_control() && c != '\n' && c != '\t' => {
                o.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// `YYYY-MM-DD HH:MM UTC` for a Unix time (no time-zone database needed).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil_from_days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

const CSS: &str = r#"
:root { --ok:#1a7f37; --okbg:#dafbe1; --bad:#b42318; --badbg:#ffe4e1; --skip:#57606a; --skipbg:#eef0f2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color:#1f2328; margin: 0 auto; max-width: 1360px; padding: 24px 28px 60px; background:#fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 22px 0 6px; text-transform: capitalize; }
.sub { color:#57606a; margin: 0 0 18px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e6e8eb; }
th { background:#f6f8fa; font-weight: 600; position: sticky; top: 0; }
table.checks { table-layout: fixed; }
table.host td:first-child { white-space: nowrap; font-weight: 600; width: 260px; }
table.host td.how { color:#57606a; font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; }
.card { border:1px solid #d0d7de; border-radius: 8px; padding: 12px 16px; min-width: 230px; flex: 1; }
.card .name { font-weight: 700; font-size: 16px; word-break: break-all; }
.card .score { font-size: 40px; font-weight: 800; line-height: 1.1; margin: 4px 0; }
.card .score small { font-size: 14px; font-weight: 400; color:#57606a; }
.bar { display: flex; height: 10px; border-radius: 5px; overflow: hidden; background: var(--skipbg); margin: 6px 0; }
.bar .b { background: var(--ok); } .bar .e { background: var(--bad); } .bar .s { background: #afb8c1; }
.counts span { margin-right: 10px; }
.good { color: var(--ok); } .mid { color:#9a6700; } .poor { color: var(--bad); }
.v { display: inline-block; min-width: 78px; text-align: center; border-radius: 4px; padding: 1px 6px;
     font-weight: 600; font-size: 12px; }
.v.blocked { color: var(--ok); background: var(--okbg); }
.v.exposed { color: #fff; background: var(--bad); }
.v.skipped { color: var(--skip); background: var(--skipbg); font-weight: 400; }
.sev { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; }
.sev.critical { background:#6e0b0b; color:#fff; } .sev.high { background:#d1242f; color:#fff; }
.sev.medium { background:#f2c744; color:#3b2300; } .sev.low { background:#ddf4ff; color:#0a3069; }
td.id code { font-weight: 600; }
td.id .title { color:#57606a; font-size: 12px; }
tr.diff td.id { border-left: 3px solid #bf8700; }
details summary { cursor: pointer; color:#0969da; font-size: 12px; }
details .what { margin: 6px 0 2px; font-size: 13px; }
details .label { font-weight: 600; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background:#f6f8fa; border-radius: 4px; margin: 2px 0 6px;
      padding: 4px 6px; font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; }
.note { color:#57606a; font-size: 12px; }
ul.skips li, ul.cleanup li { margin: 2px 0; }
.legend span { margin-right: 14px; }
"#;

fn verdict_class(v: &Verdict) -> &'static str {
    match v {
        Verdict::Blocked => "blocked",
        Verdict::Exposed => "exposed",
        Verdict::Skipped(_) => "skipped",
    }
}

fn score_class(sc: u32) -> &'static str {
    match sc {
        90.. => "good",
        70..=89 => "mid",
        _ => "poor",
    }
}

fn find<'a>(run: &'a AuditRun, id: &str) -> Option<&'a CheckResult> {
    run.results.iter().find(|r| r.id == id)
}

fn verdict_cell(r: Option<&CheckResult>) -> String {
    match r {
        None => "<td><span class=\"v skipped\">absent</span></td>".into(),
        Some(r) => {
            let tip = match &r.verdict {
                Verdict::Skipped(why) => format!(" title=\"{}\"", escape(why)),
                _ => String::new(),
            };
            let lowered = match def(r.id) {
                Some(d) if d.severity != r.severity && r.verdict == Verdict::Exposed => format!(
                    "<div class=\"note\">as {} (private user namespace)</div>",
                    r.severity.as_str()
                ),
                _ => String::new(),
            };
            format!(
                "<td><span class=\"v {}\"{tip}>{}</span>{lowered}</td>",
                verdict_class(&r.verdict),
                r.verdict.label()
            )
        }
    }
}

/// The whole report for one or more audits of the same config. `host` are the rows of
/// [`crate::host::features`]; `generated` is shown as the time of the report.
pub fn report(runs: &[AuditRun], host: &[(String, String, String)], generated: &str) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let names: Vec<String> = runs.iter().map(|r| escape(&r.runtime)).collect();
    let config = runs
        .first()
        .map(|r| escape(&r.scenario))
        .unwrap_or_default();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may be fetched or run, even if an escaping bug let markup through.
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; form-action 'none'\">\n",
    );
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>moat audit — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        names.join(" vs ")
    ));
    h.push_str("<h1>moat audit — isolation report</h1>\n");
    h.push_str(&format!(
        "<p class=\"sub\">config <b>{config}</b> · runtimes {} · {} checks · generated {}</p>\n",
        names
            .iter()
            .map(|n| format!("<b>{n}</b>"))
            .collect::<Vec<_>>()
            .join(", "),
        CHECKS.len(),
        escape(generated)
    ));

    // ---- summary
    h.push_str("<h2>Score per runtime</h2>\n<div class=\"cards\">\n");
    for (run, name) in runs.iter().zip(&names) {
        let (e, b, s, sc) = score(&run.results);
        let total = (e + b + s).max(1) as f64;
        let pct = |n: usize| format!("{:.2}", n as f64 * 100.0 / total);
        h.push_str(&format!(
            "<div class=\"card\"><div class=\"name\">{name}</div>\
             <div class=\"score {}\">{sc}<small> / 100</small></div>\
             <div class=\"bar\"><div class=\"b\" style=\"width:{}%\"></div>\
             <div class=\"e\" style=\"width:{}%\"></div><div class=\"s\" style=\"width:{}%\"></div></div>\
             <div class=\"counts\"><span class=\"poor\"><b>{e}</b> exposed</span>\
             <span class=\"good\"><b>{b}</b> blocked</span><span><b>{s}</b> skipped</span></div>",
            score_class(sc),
            pct(b),
            pct(e),
            pct(s)
        ));
        if !run.cleanup.is_empty() {
            h.push_str("<div class=\"poor\">cleanup problems:</div><ul class=\"cleanup\">");
            for c in &run.cleanup {
                h.push_str(&format!("<li>{}</li>", escape(c)));
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>\n");
    }
    h.push_str("</div>\n");
    h.push_str(
        "<p class=\"note\">Score = severity-weighted share of the runnable checks that are \
         blocked (critical 10, high 5, medium 2, low 1); skipped checks do not count either way. \
         A check is <b>exposed</b> only when the attempt reached the kernel or, for cross-tenant \
         checks, when tenant B's secret token came back; <b>skipped</b> means this host cannot \
         exercise it (the reason is on the verdict and in the details).</p>\n",
    );

    // ---- machine
    h.push_str("<h2>Machine</h2>\n<table class=\"host\">\n");
    for (f, v, n) in host {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"how\">{}</td></tr>\n",
            escape(f),
            escape(v),
            escape(n)
        ));
    }
    h.push_str("</table>\n");

    // ---- checks
    h.push_str("<h2>Checks</h2>\n<p class=\"legend\"><span class=\"v exposed\">EXPOSED</span> \
        <span class=\"v blocked\">blocked</span> <span class=\"v skipped\">skipped</span> \
        <span class=\"note\">rows marked on the left: the runtimes disagree. \
        Open “details” for what it means, the fix and the evidence each runtime produced.</span></p>\n");
    let mut category = "";
    for d in CHECKS {
        if d.category != category {
            if !category.is_empty() {
                h.push_str("</table>\n");
            }
            category = d.category;
            h.push_str(&format!(
                "<h3>{}</h3>\n<table class=\"checks\">\n<tr><th style=\"width:27%\">check</th>\
                <th style=\"width:8%\">severity</th>",
                escape(category)
            ));
            // the same column widths in every category's table
            let w = 27.0 / names.len().max(1) as f64;
            for n in &names {
                h.push_str(&format!("<th style=\"width:{w:.1}%\">{n}</th>"));
            }
            h.push_str("<th style=\"width:38%\">details</th></tr>\n");
        }
        let results: Vec<Option<&CheckResult>> = runs.iter().map(|r| find(r, d.id)).collect();
        let labels: Vec<&str> = results
            .iter()
            .map(|r| r.map(|x| x.verdict.label()).unwrap_or("absent"))
            .collect();
        let differs = labels.windows(2).any(|w| w[0] != w[1]);
        h.push_str(&format!(
            "<tr id=\"{}\"{}><td class=\"id\"><code>{}</code><div class=\"title\">{}</div></td>\
             <td><span class=\"sev {}\">{}</span></td>",
            escape(d.id),
            if differs { " class=\"diff\"" } else { "" },
            escape(d.id),
            escape(d.title),
            d.severity.as_str(),
            d.severity.as_str()
        ));
        for r in &results {
            h.push_str(&verdict_cell(*r));
        }
        h.push_str(&format!(
            "<td><details><summary>details</summary>\
             <div class=\"what\"><span class=\"label\">If exposed:</span> {}</div>\
             <div class=\"what\"><span class=\"label\">Fix:</span> {}</div>",
            escape(d.meaning),
            escape(d.remedy)
        ));
        let evidence: Vec<&str> = results
            .iter()
            .map(|r| r.map(|x| x.evidence.as_str()).unwrap_or("not in this run"))
            .collect();
        if evidence.len() > 1 && evidence.windows(2).all(|w| w[0] == w[1]) {
            // the same evidence everywhere: once, under every name
            h.push_str(&format!(
                "<div class=\"what\"><span class=\"label\">{}:</span></div><pre>{}</pre>",
                names.join(", "),
                escape(evidence[0])
            ));
        } else {
            for (ev, n) in evidence.iter().zip(&names) {
                h.push_str(&format!(
                    "<div class=\"what\"><span class=\"label\">{n}:</span></div><pre>{}</pre>",
                    escape(ev)
                ));
            }
        }
        h.push_str("</details></td></tr>\n");
    }
    if !category.is_empty() {
        h.push_str("</table>\n");
    }

    // ---- skipped
    let skips: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.results.iter().filter_map(move |c| match &c.verdict {
                Verdict::Skipped(why) => Some(format!(
                    "<li><b>{}</b> · <code>{}</code>: {}</li>",
                    escape(&r.runtime),
                    escape(c.id),
                    escape(why)
                )),
                _ => None,
            })
        })
        .collect();
    if !skips.is_empty() {
        h.push_str("<h2>Skipped checks and why</h2>\n<ul class=\"skips\">\n");
        for s in skips {
            h.push_str(&s);
            h.push('\n');
        }
        h.push_str("</ul>\n");
    }
    h.push_str(
        "<p class=\"note\">Made by <code>moat audit</code>. Method, harmlessness rules and \
         controls: docs/audit.md in the moat repository.</p>\n</body>\n</html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{evaluate, Observations};
    use serde_json::json;

    fn run_with(name: &str, evidence: &str) -> AuditRun {
        let o = Observations {
            host: json!({"ns": {"user": "user:[1]"}}),
            a: json!({"hostname": evidence}),
            b: json!({}),
        };
        let mut results = evaluate(&o);
        for r in &mut results {
            r.evidence = format!("{} ({name}) {evidence}", r.evidence);
        }
        AuditRun {
            runtime: name.into(),
            scenario: "default".into(),
            results,
            observations: o,
            cleanup: vec![format!("left {evidence}")],
        }
    }

    const HOSTILE: &str = "</pre><script>alert(1)</script><img src=x onerror=alert(2)>\
                           <a href=\"https://evil.example/\">x</a>' \"\u{1b}[2J";

    fn host_rows() -> Vec<(String, String, String)> {
        vec![
            ("kernel".into(), "6.18.0".into(), String::new()),
            ("LSMs".into(), HOSTILE.into(), "<b>".into()),
        ]
    }

    #[test]
    fn escapes_hostile_evidence() {
        let h = report(
            &[
                run_with("runc", HOSTILE),
                run_with("<script>x</script>", HOSTILE),
            ],
            &host_rows(),
            "now",
        );
        let lower = h.to_lowercase();
        assert!(!lower.contains("<script"), "a <script> tag got through");
        assert!(!lower.contains("<img"), "an <img> tag got through");
        assert!(!lower.contains("<a "), "an <a> tag got through");
        assert!(!h.contains('\u{1b}'), "a raw control character got through");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(h.contains("&lt;/pre&gt;"));
        // the hostile text is really there (escaped), in evidence, host facts and cleanup
        assert!(h.matches("&lt;script&gt;alert(1)").count() > CHECKS.len() * 2);
    }

    #[test]
    fn contains_every_check_and_every_runtime() {
        let runs = [
            run_with("moat", "e"),
            run_with("runc", "e"),
            run_with("crun", "e"),
        ];
        let h = report(&runs, &host_rows(), "now");
        for d in CHECKS {
            assert!(h.contains(&format!("<code>{}</code>", d.id)), "{}", d.id);
            assert!(h.contains(&format!("id=\"{}\"", d.id)), "{}", d.id);
        }
        for n in ["moat", "runc", "crun"] {
            assert!(h.contains(&format!("<div class=\"name\">{n}</div>")), "{n}");
            assert!(h.contains(&format!("%\">{n}</th>")), "{n}");
        }
        // one verdict cell per check per runtime
        let cells = h.matches("<td><span class=\"v ").count();
        assert_eq!(cells, CHECKS.len() * runs.len());
        // every check was skipped (the probe output is incomplete), each with its reason
        assert!(h.contains("Skipped checks and why"));
        assert!(h.contains("6.18.0"));
    }

    /// The markup tags of a page (escaped text has no raw `<`, so these are real tags).
    fn tags(h: &str) -> Vec<&str> {
        h.split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn one_self_contained_file() {
        let h = report(&[run_with("runc", HOSTILE)], &host_rows(), "now");
        let lower = h.to_lowercase();
        assert!(lower.starts_with("<!doctype html>"));
        assert!(lower.trim_end().ends_with("</html>"));
        assert_eq!(lower.matches("<html").count(), 1);
        assert!(lower.contains("<style>"));
        assert!(lower.contains("content-security-policy"));
        let tags = tags(&lower);
        assert!(tags.len() > CHECKS.len() * 5);
        for t in &tags {
            let name = t.split_whitespace().next().unwrap_or("");
            for bad in [
                "script", "link", "img", "iframe", "object", "embed", "base", "a",
            ] {
                assert_ne!(name, bad, "<{t}>");
            }
            assert!(!t.contains("src="), "<{t}>");
            assert!(!t.contains("://"), "<{t}>");
            assert!(
                !t.split_whitespace()
                    .any(|a| a.starts_with("on") && a.contains('=')),
                "event handler in <{t}>"
            );
            if let Some(i) = t.find("href=") {
                assert!(t[i + 5..].starts_with("\"#"), "external href: <{t}>");
            }
        }
        // and the style sheet imports nothing
        let css = &lower[lower.find("<style>").unwrap()..lower.find("</style>").unwrap()];
        assert!(!css.contains("@import") && !css.contains("url("));
    }

    #[test]
    fn the_tag_scan_would_see_an_external_asset() {
        // control for the test above: the same scan on a page that has one
        let bad =
            "<html><head><link rel=stylesheet href=\"https://x.example/a.css\"></head></html>";
        assert!(tags(bad).iter().any(|t| t.contains("://")));
    }

    #[test]
    fn time_format() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_874_400), "2026-11-28 14:00 UTC");
        assert_eq!(utc(951_825_600), "2000-02-29 12:00 UTC");
    }
}
