//! `moat audit`: run / compare / host / lint. Argument handling only; the work is in
//! moat-audit.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use moat_audit::{host, html, lint, profiles::Scenario, report, runner};

/// audit the isolation a runtime gives (run, compare) or the host kernel offers (host)
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Args, Debug)]
struct Common {
    /// config both tenants run with: default (runc spec), docker-like, or a config.json
    #[arg(long, default_value = "default")]
    config: String,
    /// output: table, json, or html (writes the self-contained HTML report to --html and
    /// prints the table)
    #[arg(long, default_value = "table", value_parser = ["table", "json", "html"])]
    format: String,
    /// where the HTML report goes (`-` = stdout instead of the table); giving it implies
    /// --format html [default: ./moat-audit.html]
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// the static moat-audit-probe (default: $MOAT_AUDIT_PROBE, next to moat, or the
    /// x86_64-unknown-linux-gnu release build)
    #[arg(long)]
    probe: Option<PathBuf>,
    /// seconds any single runtime invocation may take
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// audit one runtime: RUNTIME is `[NAME=]PATH [GLOBAL-ARGS...]`
    Run {
        #[arg(long)]
        runtime: String,
        #[command(flatten)]
        c: Common,
    },
    /// audit several runtimes with the same config and print them side by side
    Compare {
        /// repeat for each runtime (`[NAME=]PATH [GLOBAL-ARGS...]`)
        #[arg(long, required = true)]
        runtime: Vec<String>,
        #[command(flatten)]
        c: Common,
        /// print the side-by-side table as markdown
        #[arg(long)]
        markdown: bool,
    },
    /// static findings on a bundle's config.json, without running it
    Lint {
        /// the bundle directory (its config.json is read)
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// what this host's kernel offers (user namespaces, seccomp, Landlock, id-mapped mounts,
    /// cgroups, KVM)
    Host {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        #[arg(long)]
        probe: Option<PathBuf>,
    },
}

fn options(c: &Common) -> Result<(runner::Options, Scenario)> {
    let probe = runner::find_probe(c.probe.as_deref()).map_err(|e| anyhow!(e))?;
    let scenario = Scenario::from_arg(&c.config).map_err(|e| anyhow!(e))?;
    Ok((
        runner::Options {
            probe,
            timeout: Duration::from_secs(c.timeout.max(1)),
            tmp: None,
        },
        scenario,
    ))
}

/// stdout, tolerating a closed pipe (`moat audit ... | head`).
fn out(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

/// `text` (table, markdown or JSON) on stdout; with --format html or --html, also the HTML report (with the machine's
/// facts) written to the file, or to stdout instead of the table for `--html -`.
fn emit(c: &Common, runs: &[runner::AuditRun], opts: &runner::Options, text: &str) -> Result<()> {
    if c.format != "html" && c.html.is_none() {
        out(text);
        return Ok(());
    }
    let rows = host::features(Some(&opts.probe));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let page = html::report(runs, &rows, &html::utc(now));
    let path = c
        .html
        .clone()
        .unwrap_or_else(|| PathBuf::from("moat-audit.html"));
    if path.as_os_str() == "-" {
        out(&page);
        return Ok(());
    }
    out(text);
    std::fs::write(&path, page)
        .map_err(|e| anyhow!("audit: write HTML report {}: {e}", path.display()))?;
    eprintln!("moat audit: HTML report written to {}", path.display());
    Ok(())
}

pub fn main(a: &AuditArgs) -> Result<i32> {
    match &a.cmd {
        AuditCmd::Run { runtime, c } => {
            let (opts, scenario) = options(c)?;
            let rt = runner::RuntimeCmd::parse(runtime).map_err(|e| anyhow!(e))?;
            let run = runner::audit(&rt, &scenario, &opts).map_err(|e| anyhow!(e))?;
            let text = if c.format == "json" {
                serde_json::to_string_pretty(&report::run_json(&run))? + "\n"
            } else {
                report::table(&run)
            };
            emit(c, std::slice::from_ref(&run), &opts, &text)?;
            Ok(0)
        }
        AuditCmd::Compare {
            runtime,
            c,
            markdown,
        } => {
            let (opts, scenario) = options(c)?;
            let mut runs = Vec::new();
            for r in runtime {
                let rt = runner::RuntimeCmd::parse(r).map_err(|e| anyhow!(e))?;
                runs.push(runner::audit(&rt, &scenario, &opts).map_err(|e| anyhow!(e))?);
            }
            let text = if c.format == "json" {
                let v: Vec<_> = runs.iter().map(report::run_json).collect();
                serde_json::to_string_pretty(&v)? + "\n"
            } else if *markdown {
                report::compare_markdown(&runs)
            } else {
                report::compare_table(&runs)
            };
            emit(c, &runs, &opts, &text)?;
            Ok(0)
        }
        AuditCmd::Lint { bundle, format } => {
            let f = lint::lint_bundle(bundle).map_err(|e| anyhow!("audit lint: {e}"))?;
            let name = bundle.join("config.json").display().to_string();
            if format == "json" {
                out(&(serde_json::to_string_pretty(&lint::json(&name, &f))? + "\n"));
            } else {
                out(&lint::table(&name, &f));
            }
            Ok(0)
        }
        AuditCmd::Host { format, probe } => {
            let p = runner::find_probe(probe.as_deref()).ok();
            let rows = host::features(p.as_deref());
            if format == "json" {
                out(&(serde_json::to_string_pretty(&host::json(&rows))? + "\n"));
            } else {
                out(&host::table(&rows));
            }
            Ok(0)
        }
    }
}
