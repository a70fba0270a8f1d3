#![forbid(unsafe_code)]
//! `moat`: runc's command line over moat-container. Flags, messages and exit
//! codes follow runc 1.1; all logic lives in the library crates.

mod audit;
mod log;
mod manage;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use moat_container::{ops, run, CreateOpts, Store};

#[derive(Parser, Debug)]
#[command(
    name = "moat",
    version,
    about = "moat: a secure-by-default OCI container runtime, a drop-in for runc"
)]
struct Cli {
    /// enable debug logging
    #[arg(long)]
    debug: bool,
    /// set the log file to write moat logs to (default is '/dev/stderr')
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// root directory for storage of container state
    #[arg(long, default_value = "/run/moat")]
    root: PathBuf,
    /// path to the criu binary (checkpoint/restore is not supported)
    #[arg(long, hide = true)]
    criu: Option<String>,
    /// enable systemd cgroup support
    #[arg(long = "systemd-cgroup")]
    systemd_cgroup: bool,
    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, default_value = "auto")]
    rootless: String,
    /// security floor: hardened (default), baseline or compat (exactly runc);
    /// overrides /etc/moat/policy.toml and the binary name (moat-compat)
    #[arg(long)]
    policy: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Clone)]
struct CreateArgs {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    /// container id
    id: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// create a container
    Create(CreateArgs),
    /// executes the user defined process in a created container
    Start { id: String },
    /// create and run a container
    Run {
        #[command(flatten)]
        c: CreateArgs,
        /// detach from the container's process
        #[arg(short, long)]
        detach: bool,
        /// do not delete the container after it exits
        #[arg(long)]
        keep: bool,
        /// disable the use of the subreaper used to reap reparented processes
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// output the state of a container
    State { id: String },
    /// lists containers started by moat with the given root
    #[command(alias = "ps-list")]
    List {
        /// select one of: table or json
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// display only container IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill {
        /// send the specified signal to all processes inside the container
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// delete any resources held by the container often used with detached container
    Delete {
        /// Forcibly deletes the container if it is still running (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// create a new specification file
    Spec {
        /// path to the root of the bundle directory
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// generate a configuration for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// show the enabled features
    Features,
    #[command(flatten)]
    Manage(manage::Cmd),
    /// audit the isolation of a runtime (run, compare), a config (lint) or this host (host)
    Audit(audit::AuditArgs),
    /// print the effective config.json after moat's security floor
    Floor {
        /// path to the root of the bundle directory
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

fn main() -> ExitCode {
    // runc exits 1 on usage errors (clap's default is 2); help and
    // --version still exit 0.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let logger = match log::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("moat: {e:#}");
            return ExitCode::from(1);
        }
    };
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            logger.error(&format!("{e}"));
            ExitCode::from(manage::exit_code(&e))
        }
    }
}

fn create_opts(c: &CreateArgs, policy: &moat_spec::floor::Policy) -> CreateOpts {
    CreateOpts {
        id: c.id.clone(),
        bundle: c.bundle.clone(),
        console_socket: c.console_socket.clone(),
        pid_file: c.pid_file.clone(),
        no_pivot: c.no_pivot,
        no_new_keyring: c.no_new_keyring,
        preserve_fds: c.preserve_fds,
        foreground: false,
        start: false,
        policy: policy.clone(),
    }
}

fn dispatch(cli: &Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("systemd cgroup driver requested (--systemd-cgroup), but systemd is not running on this host");
    }
    let store = Store::new(&cli.root);
    let policy = host_policy(cli)?;
    match &cli.cmd {
        Cmd::Create(c) => {
            moat_container::create(&store, &create_opts(c, &policy))?;
            Ok(0)
        }
        Cmd::Start { id } => {
            ops::start(&store, id)?;
            Ok(0)
        }
        Cmd::Run {
            c,
            detach,
            keep,
            no_subreaper,
        } => Ok(run::run(
            &store,
            &run::RunOpts {
                create: create_opts(c, &policy),
                detach: *detach,
                keep: *keep,
                no_subreaper: *no_subreaper,
            },
        )?),
        Cmd::State { id } => {
            let l = ops::Loaded::peek(&store, id)?;
            let v = ops::state_value(&l)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        Cmd::List { format, quiet } => {
            let all = ops::list(&store)?;
            let mut out = std::io::stdout().lock();
            if *quiet {
                for v in &all {
                    writeln!(out, "{}", v["id"].as_str().unwrap_or(""))?;
                }
            } else if format == "json" {
                let arr: Vec<serde_json::Value> = all.into_iter().map(list_entry).collect();
                writeln!(out, "{}", serde_json::to_string(&arr)?)?;
            } else {
                let rows: Vec<[String; 6]> = all
                    .iter()
                    .map(|v| {
                        let s = |k: &str| match &v[k] {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        [
                            s("id"),
                            s("pid"),
                            s("status"),
                            s("bundle"),
                            s("created"),
                            s("owner"),
                        ]
                    })
                    .collect();
                write!(out, "{}", table(&rows))?;
            }
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = ops::parse_signal(signal)?;
            ops::kill(&store, id, sig, *all)?;
            Ok(0)
        }
        Cmd::Delete { force, id } => match ops::delete(&store, id, *force) {
            // runc: `delete --force` of a container that does not exist is not an error.
            Err(moat_container::Error::NotFound(_)) if *force => Ok(0),
            r => r.map(|_| 0).map_err(Into::into),
        },
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let text = moat_spec::template::default_spec_json(
                *rootless,
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            );
            std::fs::write(&path, &text)
                .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            Ok(0)
        }
        Cmd::Floor { bundle } => {
            let mut cfg = moat_spec::load(bundle)?;
            let changes = moat_spec::floor::apply(&mut cfg.spec, &policy);
            println!("{}", serde_json::to_string_pretty(&cfg.spec)?);
            for c in changes {
                eprintln!("floor: {c}");
            }
            Ok(0)
        }
        Cmd::Manage(c) => manage::dispatch(&store, c, &policy),
        Cmd::Audit(a) => audit::main(a),
        Cmd::Features => {
            println!("{}", moat_spec::features::features_json());
            Ok(0)
        }
    }
}

/// The host's policy: /etc/moat/policy.toml, then the binary's name
/// (`moat-compat`), then `--policy`. Never from the bundle.
fn host_policy(cli: &Cli) -> Result<moat_spec::floor::Policy> {
    use moat_spec::floor::{Level, Policy, POLICY_FILE};
    let mut p = match std::fs::read_to_string(POLICY_FILE) {
        Ok(t) => Policy::from_toml(&t).map_err(|e| anyhow::anyhow!("parse {POLICY_FILE}: {e}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Policy::default(),
        Err(e) => bail!("read {POLICY_FILE}: {e}"),
    };
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "moat-compat")
    {
        p.level = Level::Compat;
    }
    if let Some(l) = &cli.policy {
        p.level = l.parse::<Level>().map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(p)
}

/// runc's `list -f json` entry.
fn list_entry(v: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": v["ociVersion"],
        "id": v["id"],
        "pid": v["pid"],
        "status": v["status"],
        "bundle": v["bundle"],
        "rootfs": v["rootfs"],
        "created": v["created"],
        "owner": v["owner"],
        "annotations": v.get("annotations").cloned().unwrap_or(serde_json::Value::Null),
    })
}

/// Go's tabwriter with runc's settings: minwidth 12, padding 3.
fn table(rows: &[[String; 6]]) -> String {
    let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let all: Vec<&[String; 6]> = std::iter::once(&head).chain(rows.iter()).collect();
    let mut w = [0usize; 6];
    for r in &all {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len() + 3).max(12);
        }
    }
    let mut s = String::new();
    for r in all {
        for (i, c) in r.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}", width = w[i]));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_matches_runc() {
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
