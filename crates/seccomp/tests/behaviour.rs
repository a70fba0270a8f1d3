//! Layer 3: each profile is loaded for real, in a child process per test.
//!
//! The test re-invokes its own test binary with `MOAT_SECCOMP_TEST_CHILD` set
//! to the test's name; in that child the test body sets `no_new_privs`, loads
//! the program on the test thread and reports what it observed through its
//! exit code (an errno, 0 for success, >= 200 for a broken expectation).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use moat_seccomp::{compile, Program};
use oci_spec::runtime::LinuxSeccomp;

const CHILD_ENV: &str = "MOAT_SECCOMP_TEST_CHILD";
const SIGSYS: i32 = 31;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("test profile parses")
}

/// Run `body` in a fresh child process and return how it ended. In the
/// child, does not return.
fn in_child(name: &str, body: impl FnOnce() -> i32) -> ExitStatus {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let code = body();
        std::process::exit(code);
    }
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("re-running the test binary")
}

/// The child's exit code: 0 when `observed` is `expected`, else 200 + the
/// index of the first check that differs (both printed).
fn first_mismatch(observed: &[i32], expected: &[i32]) -> i32 {
    match observed.iter().zip(expected).position(|(o, e)| o != e) {
        None => 0,
        Some(i) => {
            eprintln!("check {i}: observed {observed:?}, expected {expected:?}");
            200 + i as i32
        }
    }
}

fn load(p: &Program) -> Option<std::os::fd::OwnedFd> {
    moat_sys::seccomp::set_no_new_privs().expect("no_new_privs");
    p.load().expect("loading the program")
}

fn getcwd_errno() -> i32 {
    match std::env::current_dir() {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(250),
    }
}

fn errno<T>(r: nix::Result<T>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e as i32,
    }
}

#[test]
fn errno_default_eperm() {
    let st = in_child("errno_default_eperm", || {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .unwrap();
        load(&p);
        getcwd_errno()
    });
    assert_eq!(st.code(), Some(1), "{st:?}");
    // The test process itself is unaffected.
    assert!(std::env::current_dir().is_ok());
}

#[test]
fn errno_ret_38_and_unknown_names_ignored() {
    let st = in_child("errno_ret_38_and_unknown_names_ignored", || {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["no_such_syscall_moat","getcwd"],
                             "action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        ))
        .unwrap();
        load(&p);
        getcwd_errno()
    });
    assert_eq!(st.code(), Some(38), "{st:?}");
}

/// In the child of test `name`: allow all but getcwd, which gets `action`;
/// call getcwd, and exit 200 if that returned.
fn getcwd_under(name: &str, action: &str) -> ExitStatus {
    in_child(name, || {
        let p = compile(&profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{{"names":["getcwd"],"action":"{action}"}}]}}"#
        )))
        .unwrap();
        load(&p);
        getcwd_errno();
        200
    })
}

#[test]
fn kill_process_is_sigsys() {
    let st = getcwd_under("kill_process_is_sigsys", "SCMP_ACT_KILL_PROCESS");
    assert_eq!(st.signal(), Some(SIGSYS), "{st:?}");
}

#[test]
fn trap_is_sigsys() {
    let st = getcwd_under("trap_is_sigsys", "SCMP_ACT_TRAP");
    assert_eq!(st.signal(), Some(SIGSYS), "{st:?}");
}

#[test]
fn kill_thread_kills_the_calling_thread() {
    // SCMP_ACT_KILL (= KILL_THREAD) only ends the calling thread, and the
    // test harness has two: fork a single-threaded grandchild for it.
    let st = in_child("kill_thread_kills_the_calling_thread", || {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["uname"],"action":"SCMP_ACT_KILL"}]}"#,
        ))
        .unwrap();
        match moat_sys::clone3(0, None).unwrap() {
            moat_sys::Cloned::Child => {
                // No allocation from here on.
                let _ = moat_sys::seccomp::set_no_new_privs();
                if p.load().is_err() {
                    moat_sys::exit_now(201);
                }
                let _ = nix::sys::utsname::uname();
                moat_sys::exit_now(202)
            }
            moat_sys::Cloned::Parent(pid) => {
                match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => sig as i32,
                    Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
                    _ => 203,
                }
            }
        }
    });
    assert_eq!(st.code(), Some(SIGSYS), "{st:?}");
}

#[test]
fn trace_without_tracer_is_enosys() {
    let st = in_child("trace_without_tracer_is_enosys", || {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_TRACE"}]}"#,
        ))
        .unwrap();
        load(&p);
        getcwd_errno()
    });
    assert_eq!(st.code(), Some(38), "{st:?}");
}

#[test]
fn log_allows() {
    let st = in_child("log_allows", || {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_LOG"},
                            {"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":7}]}"#,
        ))
        .unwrap();
        load(&p);
        match (getcwd_errno(), errno(nix::sys::utsname::uname())) {
            (0, 7) => 0,
            (a, b) => 200 + (a.min(20) + b.min(20)),
        }
    });
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn argument_filters() {
    let st = in_child("argument_filters", || {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        // socket(AF_PACKET, ...) -> EPERM; socket(AF_NETLINK or AF_ALG) ->
        // EACCES (two conditions on one argument: ORed); socket(AF_INET,
        // SOCK_RAW | flags) -> ENOPROTOOPT via MASKED_EQ on the type;
        // personality(0xffffffff) -> EINVAL.
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[
                  {"names":["socket"],"action":"SCMP_ACT_ERRNO",
                   "args":[{"index":0,"value":17,"op":"SCMP_CMP_EQ"}]},
                  {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":13,
                   "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},
                           {"index":0,"value":38,"op":"SCMP_CMP_EQ"}]},
                  {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":92,
                   "args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},
                           {"index":1,"value":15,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"}]},
                  {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
                   "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}
                ]}"#,
        ))
        .unwrap();
        load(&p);
        let cloexec = SockFlag::SOCK_CLOEXEC;
        let s = |af, ty| errno(socket(af, ty, cloexec, None));
        let observed = [
            s(AddressFamily::Packet, SockType::Raw),
            s(AddressFamily::Netlink, SockType::Raw),
            s(AddressFamily::Alg, SockType::SeqPacket),
            s(AddressFamily::Inet, SockType::Raw),
            s(AddressFamily::Inet, SockType::Datagram),
            s(AddressFamily::Inet, SockType::Stream),
            s(AddressFamily::Unix, SockType::Stream),
            errno(nix::sys::personality::get()),
        ];
        let expected = [1, 13, 13, 92, 0, 0, 0, 22];
        first_mismatch(&observed, &expected)
    });
    assert_eq!(st.code(), Some(0), "{st:?}");
}

/// moat's default profile, compiled by the compact compiler, loads and
/// decides as intended: allowed calls pass, socket(AF_VSOCK) and other
/// personalities are refused with EPERM.
#[test]
fn compact_default_profile_loads() {
    let st = in_child("compact_default_profile_loads", || {
        use nix::sys::personality::{self, Persona};
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        let s = moat_spec::floor::default_profile();
        let p = compile(&s).unwrap();
        if moat_seccomp::compile_compact(&s).as_ref() != Ok(&p) {
            eprintln!("compile() did not use the compact compiler");
            return 199;
        }
        let pid = std::process::id();
        load(&p);
        let s = |af, ty| errno(socket(af, ty, SockFlag::SOCK_CLOEXEC, None));
        let observed = [
            i32::from(nix::unistd::getpid().as_raw() as u32 != pid),
            getcwd_errno(),
            s(AddressFamily::Unix, SockType::Stream),
            s(AddressFamily::Inet, SockType::Datagram),
            s(AddressFamily::Vsock, SockType::Stream),
            errno(personality::get()),
            errno(personality::set(Persona::ADDR_NO_RANDOMIZE)),
        ];
        let expected = [0, 0, 0, 0, 1, 0, 1];
        first_mismatch(&observed, &expected)
    });
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn default_errno_with_allow_list() {
    let st = in_child("default_errno_with_allow_list", || {
        let pid = std::process::id();
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["getpid","exit","exit_group","write","futex",
                                      "sigaltstack","munmap","rt_sigprocmask","madvise",
                                      "mmap","brk","rt_sigreturn"],
                             "action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .unwrap();
        load(&p);
        let getpid_ok = nix::unistd::getpid().as_raw() as u32 == pid;
        match (getpid_ok, getcwd_errno(), errno(nix::sys::utsname::uname())) {
            (true, 95, 95) => 0,
            (ok, a, b) => {
                eprintln!("getpid ok {ok}, getcwd {a}, uname {b}");
                210
            }
        }
    });
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn notify_returns_a_working_listener() {
    let st = in_child("notify_returns_a_working_listener", || {
        use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
        use std::os::fd::AsRawFd;
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "listenerPath":"/run/moat-test-agent.sock",
                "flags":["SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ))
        .unwrap();
        if !p.uses_notify() || p.listener_path().is_none() {
            return 200;
        }
        let Some(listener) = load(&p) else {
            return 201;
        };
        // The agent: answers one notification with EXDEV.
        let agent = std::thread::spawn(move || {
            let req = ScmpNotifReq::receive(listener.as_raw_fd()).expect("receive");
            let getcwd = ScmpSyscall::from_name("getcwd").unwrap();
            let err = if req.data.syscall == getcwd { -18 } else { -1 };
            ScmpNotifResp::new_error(req.id, err, ScmpNotifRespFlags::empty())
                .respond(listener.as_raw_fd())
                .expect("respond");
        });
        let observed = getcwd_errno();
        agent.join().unwrap();
        observed
    });
    assert_eq!(st.code(), Some(18), "{st:?}");
}
