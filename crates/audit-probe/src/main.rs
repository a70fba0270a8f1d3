//! moat-audit-probe: see the library docs. Usage:
//!   moat-audit-probe tenant-a --token T [--b-pid N] [--b-port N] [--blk MAJ:MIN] [--runtime-name NAME]...
//!   moat-audit-probe tenant-b --token T [--ttl SECS]
//!   moat-audit-probe baseline | host | userns-hold
#![forbid(unsafe_code)]

use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: moat-audit-probe tenant-a --token T [--b-pid N] [--b-port N] [--blk MAJ:MIN] [--runtime-name NAME]...");
    eprintln!("       moat-audit-probe tenant-b --token T [--ttl SECS]");
    eprintln!("       moat-audit-probe baseline | host | userns-hold");
    std::process::exit(2)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let mode = argv.get(1).cloned().unwrap_or_default();
    let mut token = String::new();
    let mut b_pid = None;
    let mut b_port = None;
    let mut blk = None;
    let mut ttl = 120u64;
    let mut names = Vec::new();
    let mut i = 2;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_else(|| usage());
        match argv[i].as_str() {
            "--token" => token = v,
            "--b-pid" => b_pid = v.parse().ok(),
            "--b-port" => b_port = v.parse().ok(),
            "--ttl" => ttl = v.parse().unwrap_or(120),
            "--runtime-name" => names.push(v),
            "--blk" => {
                blk = v
                    .split_once(':')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            }
            _ => usage(),
        }
        i += 2;
    }
    let code = match mode.as_str() {
        "tenant-a" if !token.is_empty() => {
            let a = moat_audit_probe::AArgs {
                token,
                b_pid,
                b_port,
                blk,
                runtime_names: names,
            };
            println!("{}", moat_audit_probe::tenant_a(&a));
            0
        }
        "tenant-b" if !token.is_empty() => {
            moat_audit_probe::tenant_b(&token, Duration::from_secs(ttl.min(600)))
        }
        "baseline" => {
            println!(
                "{}",
                serde_json::json!({"mode": "baseline", "syscalls": moat_audit_probe::syscalls(false)})
            );
            0
        }
        "host" => {
            let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
            println!("{}", moat_audit_probe::host_features(&exe));
            0
        }
        "userns-hold" => moat_audit_probe::userns_hold(),
        _ => usage(),
    };
    std::process::exit(code)
}
