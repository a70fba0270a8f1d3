//! `run` with `terminal: true` and `--console-socket`: the runtime sends the pty master over
//! the unix socket (SCM_RIGHTS); we type into it and read the shell's output back.
mod common;

use common::*;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Accepts one connection (bounded wait) and receives one fd from it.
/// Gives up (returns None) when `runtime_done()` says the runtime exited without connecting.
fn receive_master(listener: &UnixListener, runtime_done: impl Fn() -> bool) -> Option<File> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + cmd_timeout();
    let stream: UnixStream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "nobody connected to the console socket"
                );
                if runtime_done() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(cmd_timeout())).unwrap();
    // moat's own SCM_RIGHTS receiver (safe, returns an OwnedFd).
    let mut buf = [0u8; 4096];
    let (_, fd) = moat_container::sync::recv_bytes_fd(stream.as_fd(), &mut buf)
        .expect("recvmsg on console socket");
    Some(File::from(
        fd.expect("console socket message carried no fd"),
    ))
}

/// runc 1.1 refuses `--console-socket` on a foreground `run` ("cannot use console socket if
/// runc will not detach or allocate tty"), so this is `run -d --console-socket`. The runtime
/// exits once the container is started; to still see the container's exit status, this test
/// process becomes a child subreaper: the container's init is reparented to it and reaped
/// here (this is the only test in this binary that leaves processes behind it).
#[test]
fn run_with_console_socket() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| {
            c["process"]["terminal"] = json!(true);
            c["process"]["args"] = json!(["sh"]);
        });
        let id = unique_id("console");
        let sock_dir = TempDir::new("console");
        let sock = sock_dir.path().join("console.sock");
        let pid_file = sock_dir.path().join("init.pid");
        let listener = UnixListener::bind(&sock).unwrap();

        let (out, mut master) = std::thread::scope(|s| {
            let runner = s.spawn(|| {
                rt.exec(&[
                    "run",
                    "-d",
                    "--bundle",
                    bundle.path_str(),
                    "--console-socket",
                    sock.to_str().unwrap(),
                    "--pid-file",
                    pid_file.to_str().unwrap(),
                    &id,
                ])
            });
            let Some(master) = receive_master(&listener, || runner.is_finished()) else {
                let out = runner.join().unwrap();
                panic!(
                    "{}: exited without sending a console:\n{}",
                    rt.name,
                    out.describe()
                );
            };
            (runner.join().unwrap(), master)
        });
        assert_eq!(
            out.code(),
            Some(0),
            "{}: run -d --console-socket\n{}",
            rt.name,
            out.describe()
        );
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("{}: no pid file ({e})", rt.name))
            .trim()
            .parse()
            .unwrap();

        master.write_all(b"echo hi; exit 3\n").unwrap();
        // Read until the slave side goes away (EIO) or EOF.
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        });
        let status = wait_pid(pid, cmd_timeout())
            .unwrap_or_else(|| panic!("{}: container init {pid} did not exit", rt.name));
        let transcript = reader.join().unwrap();
        assert_eq!(
            status,
            WaitStatus::Exited(Pid::from_raw(pid), 3),
            "{}: container exit\n--- terminal ---\n{transcript}",
            rt.name
        );
        assert!(
            transcript.lines().any(|l| l.trim_end_matches('\r') == "hi"),
            "{}: no 'hi' line on the terminal:\n{transcript:?}",
            rt.name
        );
        rt.wait_status(&id, "stopped");
        assert!(rt.delete(&id).status.success(), "{}: delete", rt.name);
    }
}

/// waitpid(pid) polled with WNOHANG until `timeout`.
fn wait_pid(pid: i32, timeout: Duration) -> Option<WaitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(st) => return Some(st),
            Err(e) => panic!("waitpid({pid}): {e} (not reparented to the subreaper?)"),
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// terminal: true without --console-socket under `create` is an error for runc 1.1
/// ("cannot allocate tty if runc will detach without setting console socket").
#[test]
fn create_terminal_without_console_socket_fails() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| {
            c["process"]["terminal"] = json!(true);
            c["process"]["args"] = json!(["sh"]);
        });
        let id = unique_id("noconsole");
        let out = rt.create(&bundle, &id);
        assert_eq!(out.code(), Some(1), "{}:\n{}", rt.name, out.describe());
        assert!(
            out.stderr_str().contains("console"),
            "{}: message should mention the console socket:\n{}",
            rt.name,
            out.describe()
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}
