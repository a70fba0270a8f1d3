//! Layer 1: compiling and caching, without loading anything.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use moat_seccomp::{
    cache_key, compile, compile_cached, Error, FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW,
    FLAG_TSYNC, FLAG_TSYNC_ESRCH, FLAG_WAIT_KILLABLE_RECV,
};
use oci_spec::runtime::LinuxSeccomp;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("test profile parses")
}

const SMALL: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
    "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
    "syscalls":[
      {"names":["read","write","exit_group","getpid"],"action":"SCMP_ACT_ALLOW"},
      {"names":["personality"],"action":"SCMP_ACT_ALLOW",
       "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
      {"names":["clone"],"action":"SCMP_ACT_ALLOW",
       "args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ","valueTwo":0}]}]}"#;

/// A fresh private directory under the target dir's tmp.
fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moat-seccomp-test-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn compiles_nonempty_deterministic_bpf() {
    let a = compile(&profile(SMALL)).unwrap();
    let b = compile(&profile(SMALL)).unwrap();
    assert!(!a.as_bytes().is_empty());
    assert_eq!(a.as_bytes().len() % 8, 0);
    assert_eq!(a.instructions(), a.as_bytes().len() / 8);
    assert_eq!(a, b, "compiling twice gives the same program");
    assert_eq!(a.flags(), 0);
    assert!(!a.uses_notify());
    assert_eq!(a.listener_path(), None);

    let other = compile(&profile(&SMALL.replace("getpid", "getppid"))).unwrap();
    assert_ne!(a.as_bytes(), other.as_bytes());
}

#[test]
fn unknown_syscalls_are_ignored() {
    let with = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getcwd","moat_not_a_syscall"],"action":"SCMP_ACT_ERRNO"},
            {"names":["another_unknown_one"],"action":"SCMP_ACT_KILL"}]}"#,
    ))
    .unwrap();
    let without = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    assert_eq!(with.as_bytes(), without.as_bytes());
}

#[test]
fn rules_equal_to_the_default_are_skipped() {
    let with = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
            {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    let without = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    assert_eq!(with.as_bytes(), without.as_bytes());
}

#[test]
fn all_actions_and_operators_compile() {
    let actions = [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let names = [
        "getcwd", "uname", "chdir", "fchdir", "umask", "sysinfo", "times", "getppid",
    ];
    let mut rules = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        rules.push(format!(r#"{{"names":["{}"],"action":"{a}"}}"#, names[i]));
    }
    for (i, op) in ops.iter().enumerate() {
        rules.push(format!(
            r#"{{"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":{},
                "args":[{{"index":{},"value":{},"valueTwo":1,"op":"{op}"}}]}}"#,
            i + 1,
            i % 6,
            i + 2
        ));
    }
    let p = compile(&profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
        rules.join(",")
    )))
    .unwrap();
    assert!(p.uses_notify());
    assert_eq!(p.flags(), FLAG_NEW_LISTENER);
    assert!(p.instructions() > 20);
}

#[test]
fn flags_map_to_kernel_flags() {
    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",
                     "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    // WAIT_KILLABLE_RECV is dropped without a listener (the kernel rejects it).
    assert_eq!(p.flags(), FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW);

    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    assert_eq!(
        p.flags(),
        FLAG_TSYNC | FLAG_TSYNC_ESRCH | FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV
    );
    assert!(p.uses_notify());
    assert_eq!(
        p.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
}

#[test]
fn invalid_rules_name_the_syscall() {
    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["socket","socketpair"],"action":"SCMP_ACT_ERRNO",
             "args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap_err();
    assert!(matches!(&err, Error::InvalidRule { syscall, .. } if syscall == "socket,socketpair"));
    assert!(err.to_string().contains("socket,socketpair"), "{err}");
    assert!(err.to_string().contains("index 6"), "{err}");

    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("getcwd"), "{err}");
    assert!(err.to_string().contains("70000"), "{err}");

    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap_err();
    assert!(matches!(&err, Error::InvalidRule { syscall, .. } if syscall == "write"));

    let err = compile(&profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidProfile {
            field: "defaultAction",
            ..
        }
    ));

    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#,
    ))
    .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidProfile {
            field: "defaultAction",
            ..
        }
    ));

    // Unknown action strings are already rejected when parsing the config.
    assert!(serde_json::from_str::<LinuxSeccomp>(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_NOPE"}]}"#
    )
    .is_err());
}

#[test]
fn cache_key_is_stable_and_content_addressed() {
    // The same profile with its keys in another order.
    let reordered = profile(
        r#"{"syscalls":[{"action":"SCMP_ACT_ALLOW","names":["read","write","exit_group","getpid"]},
            {"args":[{"op":"SCMP_CMP_EQ","value":8,"index":0}],"action":"SCMP_ACT_ALLOW","names":["personality"]},
            {"action":"SCMP_ACT_ALLOW","names":["clone"],
             "args":[{"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ","index":0,"value":2114060288}]}],
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "defaultErrnoRet":1,"defaultAction":"SCMP_ACT_ERRNO"}"#,
    );
    assert_eq!(
        cache_key(&profile(SMALL)).unwrap(),
        cache_key(&reordered).unwrap()
    );
    assert_ne!(
        cache_key(&profile(SMALL)).unwrap(),
        cache_key(&profile(
            &SMALL.replace("\"defaultErrnoRet\":1", "\"defaultErrnoRet\":2")
        ))
        .unwrap()
    );
}

#[test]
fn cache_miss_writes_then_hit_reads_identical_program() {
    let dir = tempdir("hit");
    let s = profile(SMALL);
    let compiled = compile(&s).unwrap();
    let first = compile_cached(&s, &dir).unwrap();
    assert_eq!(first, compiled);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].ends_with(".bpf") && entries[0].len() == 64 + 4);
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let second = compile_cached(&s, &dir).unwrap();
    assert_eq!(second, compiled);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_or_short_entries_are_recompiled() {
    let dir = tempdir("corrupt");
    let s = profile(SMALL);
    let good = compile_cached(&s, &dir).unwrap();
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read(&entry).unwrap();

    // Truncated.
    std::fs::write(&entry, &original[..original.len() / 2]).unwrap();
    assert_eq!(compile_cached(&s, &dir).unwrap(), good);
    assert_eq!(std::fs::read(&entry).unwrap(), original, "entry rewritten");

    // One BPF byte flipped: the checksum catches it.
    let mut flipped = original.clone();
    let mid = flipped.len() - 40;
    flipped[mid] ^= 0xff;
    std::fs::write(&entry, &flipped).unwrap();
    assert_eq!(compile_cached(&s, &dir).unwrap(), good);
    assert_eq!(std::fs::read(&entry).unwrap(), original);

    // Empty.
    std::fs::write(&entry, b"").unwrap();
    assert_eq!(compile_cached(&s, &dir).unwrap(), good);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn insecure_cache_dirs_are_refused() {
    let dir = tempdir("insecure");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = compile_cached(&profile(SMALL), &dir).unwrap_err();
    assert!(matches!(err, Error::InsecureCacheDir { .. }), "{err}");

    let link = tempdir("insecure-link");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let err = compile_cached(&profile(SMALL), &link).unwrap_err();
    assert!(matches!(err, Error::InsecureCacheDir { .. }), "{err}");
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unwritable_cache_still_returns_the_program() {
    let dir = tempdir("readonly");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let s = profile(SMALL);
    // As root the write still succeeds (DAC is bypassed); either way the
    // program must come back.
    assert_eq!(compile_cached(&s, &dir).unwrap(), compile(&s).unwrap());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
