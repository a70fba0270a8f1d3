//! Measure compile vs cache hit vs load for a large allow-list profile (every
//! syscall libseccomp knows on this architecture, plus docker-style argument
//! filters).
//!
//! `cargo run --release -p moat-seccomp --example timings [runs]`

use std::process::Command;
use std::time::{Duration, Instant};

use libseccomp::ScmpSyscall;
use moat_seccomp::{compile, compile_cached};
use oci_spec::runtime::LinuxSeccomp;

fn big_profile() -> (LinuxSeccomp, usize) {
    let mut names = Vec::new();
    for nr in 0..1024 {
        if let Ok(name) = ScmpSyscall::from(nr).get_name() {
            if name != "personality" && name != "clone" && name != "socket" {
                names.push(format!("\"{name}\""));
            }
        }
    }
    let n = names.len() + 3;
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[
              {{"names":[{}],"action":"SCMP_ACT_ALLOW"}},
              {{"names":["personality"],"action":"SCMP_ACT_ALLOW",
                "args":[{{"index":0,"value":0,"op":"SCMP_CMP_EQ"}}]}},
              {{"names":["personality"],"action":"SCMP_ACT_ALLOW",
                "args":[{{"index":0,"value":8,"op":"SCMP_CMP_EQ"}}]}},
              {{"names":["personality"],"action":"SCMP_ACT_ALLOW",
                "args":[{{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}}]}},
              {{"names":["clone"],"action":"SCMP_ACT_ALLOW",
                "args":[{{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}}]}},
              {{"names":["socket"],"action":"SCMP_ACT_ALLOW",
                "args":[{{"index":0,"value":40,"op":"SCMP_CMP_NE"}}]}}
            ]}}"#,
        names.join(",")
    );
    (serde_json::from_str(&json).unwrap(), n)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (profile, n) = big_profile();

    if args.get(1).map(String::as_str) == Some("--child") {
        // Child: what `moat create` + init would do on a warm cache.
        let dir = std::path::PathBuf::from(&args[2]);
        let t = Instant::now();
        let p = compile_cached(&profile, &dir).unwrap();
        let hit = t.elapsed();
        moat_sys::seccomp::set_no_new_privs().unwrap();
        let t = Instant::now();
        p.load().unwrap();
        let load = t.elapsed();
        println!("{} {}", hit.as_nanos(), load.as_nanos());
        return;
    }

    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("moat-seccomp-timings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let p = compile(&profile).unwrap();
    println!(
        "profile: {n} syscall names, {} BPF instructions ({} bytes), libseccomp {:?}",
        p.instructions(),
        p.as_bytes().len(),
        libseccomp::ScmpVersion::current()
            .map(|v| (v.major, v.minor, v.micro))
            .ok()
    );
    println!("run  compile_ms  cached_miss_ms  child_hit_ms  child_load_ms");
    for run in 0..runs {
        let t = Instant::now();
        let _ = compile(&profile).unwrap();
        let compile_t = t.elapsed();

        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        let _ = compile_cached(&profile, &dir).unwrap();
        let miss = t.elapsed();

        let out = Command::new(&args[0])
            .arg("--child")
            .arg(&dir)
            .output()
            .unwrap();
        let line = String::from_utf8(out.stdout).unwrap();
        let mut it = line.split_whitespace().map(|x| x.parse::<u64>().unwrap());
        let hit = Duration::from_nanos(it.next().unwrap());
        let load = Duration::from_nanos(it.next().unwrap());
        println!(
            "{run:>3}  {:>10}  {:>14}  {:>12}  {:>13}",
            ms(compile_t),
            ms(miss),
            ms(hit),
            ms(load)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
