//! runc's resource-control commands (`pause`, `resume`, `ps`, `events`,
//! `update`) and `exec`: flags as runc 1.1, logic in moat-container.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use moat_container::manage::{self, UpdateOpts};
use moat_container::Store;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// pause suspends all processes inside the container
    Pause { id: String },
    /// resumes all processes that have been previously paused
    Resume { id: String },
    /// ps displays the processes running inside a container
    Ps {
        /// select one of: table or json
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        /// options passed to ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events {
        /// display the container's stats then exit
        #[arg(long)]
        stats: bool,
        /// set the stats collection interval
        #[arg(long, default_value = "5s", value_parser = manage::parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// update container resource constraints
    Update(Box<UpdateArgs>),
    /// execute new process inside the container
    Exec(Box<ExecArgs>),
}

fn size(s: &str) -> Result<i64, String> {
    manage::parse_size(s)
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// path to the file containing the resources to update or '-' to read from the standard input
    #[arg(short = 'r', long)]
    resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long, allow_hyphen_values = true, value_parser = size)]
    memory: Option<i64>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_hyphen_values = true, value_parser = size)]
    memory_reservation: Option<i64>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true, value_parser = size)]
    memory_swap: Option<i64>,
    /// Kernel memory limit (in bytes), ignored as by runc
    #[arg(long = "kernel-memory", allow_hyphen_values = true, value_parser = size)]
    kernel_memory: Option<i64>,
    /// Kernel memory limit for TCP buffer (in bytes), ignored as by runc
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true, value_parser = size)]
    kernel_memory_tcp: Option<i64>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
    id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short, long)]
    detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long)]
    apparmor: Option<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// add a capability to the bounding set for the process
    #[arg(short, long)]
    cap: Vec<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    /// set the cgroup to join (not supported: the container's own cgroup is used)
    #[arg(long)]
    cgroup: Vec<String>,
    /// allow exec in a paused container
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// container id
    id: String,
    /// command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// runc exits 255 when `exec` itself fails (the process's own status otherwise).
#[derive(Debug)]
pub struct ExecFailed(pub String);

impl std::fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exec failed: {}", self.0)
    }
}

impl std::error::Error for ExecFailed {}

/// The exit code for a failed command (1, or 255 for `exec`, as runc).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ExecFailed>().is_some() {
        255
    } else {
        1
    }
}

pub fn dispatch(store: &Store, cmd: &Cmd, policy: &moat_spec::floor::Policy) -> Result<i32> {
    match cmd {
        Cmd::Pause { id } => manage::pause(store, id)?,
        Cmd::Resume { id } => manage::resume(store, id)?,
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = manage::pids(store, id)?;
            let mut out = std::io::stdout().lock();
            if format == "json" {
                writeln!(out, "{}", serde_json::to_string(&pids)?)?;
            } else {
                write!(out, "{}", manage::ps_table(&pids, ps_args)?)?;
            }
        }
        Cmd::Events {
            stats,
            interval,
            id,
        } => {
            if *stats {
                println!("{}", manage::stats(store, id)?);
            } else {
                if interval.is_zero() {
                    bail!("duration interval must be greater than 0");
                }
                manage::stream(store, id, *interval, &mut std::io::stdout())?;
            }
        }
        Cmd::Update(u) => update(store, u)?,
        Cmd::Exec(e) => {
            return exec(store, e, policy).map_err(|e| ExecFailed(e.to_string()).into())
        }
    }
    Ok(0)
}

fn update(store: &Store, u: &UpdateArgs) -> Result<()> {
    if u.l3_cache_schema.is_some() || u.mem_bw_schema.is_some() {
        bail!("Intel RDT is not supported by moat");
    }
    let o = match &u.resources {
        // As runc: with a resources file, every other flag is ignored.
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?
            };
            let r: moat_container::manage::Resources =
                serde_json::from_str(&text).map_err(|e| anyhow!("decode resources: {e}"))?;
            UpdateOpts::from_resources(&r)
        }
        None => UpdateOpts {
            memory: u.memory,
            memory_swap: u.memory_swap,
            memory_reservation: u.memory_reservation,
            kernel_memory: u.kernel_memory.or(u.kernel_memory_tcp),
            cpu_shares: u.cpu_share,
            cpu_quota: u.cpu_quota,
            cpu_period: u.cpu_period,
            cpu_rt_period: u.cpu_rt_period,
            cpu_rt_runtime: u.cpu_rt_runtime,
            cpuset_cpus: u.cpuset_cpus.clone(),
            cpuset_mems: u.cpuset_mems.clone(),
            pids_limit: u.pids_limit,
            blkio_weight: u.blkio_weight,
        },
    };
    manage::update(store, &u.id, &o)?;
    Ok(())
}

fn exec(store: &Store, e: &ExecArgs, policy: &moat_spec::floor::Policy) -> Result<i32> {
    if e.apparmor.is_some() || e.process_label.is_some() {
        bail!("--apparmor and --process-label are not supported: moat applies no LSM profile");
    }
    if !e.cgroup.is_empty() {
        bail!("--cgroup is not supported: the exec'd process joins the container's cgroup");
    }
    let o = moat_container::exec::ExecOpts {
        id: e.id.clone(),
        process: e.process.clone(),
        args: e.args.clone(),
        console_socket: e.console_socket.clone(),
        cwd: e.cwd.clone(),
        env: e.env.clone(),
        tty: e.tty,
        user: e.user.clone(),
        additional_gids: e.additional_gids.clone(),
        detach: e.detach,
        pid_file: e.pid_file.clone(),
        no_new_privs: e.no_new_privs,
        caps: e.cap.clone(),
        preserve_fds: e.preserve_fds,
        ignore_paused: e.ignore_paused,
        policy: policy.clone(),
    };
    Ok(moat_container::exec::exec(store, &o)?)
}
