//! The syscalls the audit probe (crates/audit-probe) makes that neither std nor the rest of
//! moat-sys wraps; kept here because moat-sys is the one crate with `unsafe`. Every call passes integers, NULL pointers (rejected by the
//! kernel with EFAULT before anything happens), pointers to live locals, or deliberately
//! invalid arguments (bad flags, bad magic, a pid that cannot exist), so that the only thing
//! learned is whether the kernel (seccomp, capabilities, namespaces) let the call through.
//! Nothing here can change the host: see each function.

use std::ffi::CString;
use std::io;

fn check(ret: i64) -> io::Result<i64> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// mount("none", "/", "moat-audit-nofs", 0, NULL): the kernel checks CAP_SYS_ADMIN (EPERM)
/// before looking the filesystem type up (ENODEV). Nothing is ever mounted: the type does
/// not exist.
pub fn mount_bogus() -> io::Result<i64> {
    let src = cstr("none")?;
    let dst = cstr("/")?;
    let fs = cstr("moat-audit-nofs")?;
    // SAFETY: three live NUL-terminated strings and a NULL data pointer.
    check(
        unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } as i64,
    )
}

/// fsopen("moat-audit-nofs", 0): EPERM without CAP_SYS_ADMIN, ENODEV when reachable.
pub fn fsopen_bogus() -> io::Result<i64> {
    let fs = cstr("moat-audit-nofs")?;
    // SAFETY: a live NUL-terminated string; no fd can be returned for an unknown type, but
    // one would be closed below.
    let r = check(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), 0i64) })?;
    close(r);
    Ok(r)
}

/// ptrace(PTRACE_ATTACH, i32::MAX): no such pid can exist (pid_max ≤ 2^22), so ESRCH when the
/// syscall is reachable, EPERM when a filter refuses it.
pub fn ptrace_nopid() -> io::Result<i64> {
    // SAFETY: integer arguments only; the target does not exist.
    check(unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::PTRACE_ATTACH as i64,
            i32::MAX as i64,
            0i64,
            0i64,
        )
    })
}

/// kexec_load(0, 0, NULL, 0xffff0000): EPERM without CAP_SYS_BOOT, EINVAL (bad flags) when
/// reachable, ENOSYS when the kernel has no kexec. Nothing is loaded: no segments.
pub fn kexec_bad() -> io::Result<i64> {
    // SAFETY: integers and a NULL segment pointer with nr_segments = 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0i64,
            0i64,
            std::ptr::null::<u8>(),
            0xffff_0000u32 as i64,
        )
    })
}

/// reboot(0, 0, 0, NULL): the kernel checks CAP_SYS_BOOT (EPERM), then the magic numbers
/// (EINVAL) — 0 is never a valid magic, so this can never reboot anything.
pub fn reboot_bad() -> io::Result<i64> {
    // SAFETY: integers and NULL; invalid magic.
    check(unsafe { libc::syscall(libc::SYS_reboot, 0i64, 0i64, 0i64, std::ptr::null::<u8>()) })
}

/// syslog(SYSLOG_ACTION_SIZE_BUFFER): the size of the kernel log buffer, i.e. whether the
/// kernel log (dmesg) may be read. Reads nothing, clears nothing.
pub fn syslog_size() -> io::Result<i64> {
    // SAFETY: action 10 takes no buffer.
    check(unsafe { libc::syscall(libc::SYS_syslog, 10i64, std::ptr::null::<u8>(), 0i64) })
}

/// open_by_handle_at(AT_FDCWD, NULL, O_RDONLY): EPERM without CAP_DAC_READ_SEARCH ("shocker"),
/// EFAULT (NULL handle) when reachable.
pub fn open_by_handle_null() -> io::Result<i64> {
    // SAFETY: NULL handle pointer, rejected with EFAULT; an fd would be closed.
    let r = check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            libc::AT_FDCWD as i64,
            std::ptr::null::<u8>(),
            libc::O_RDONLY as i64,
        )
    })?;
    close(r);
    Ok(r)
}

/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the Landlock ABI
/// version, EOPNOTSUPP when disabled at boot, ENOSYS when not built.
pub fn landlock_abi() -> io::Result<i64> {
    // SAFETY: the version query takes NULL and size 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    })
}

/// mknod(path, mode, makedev(major, minor)).
pub fn mknod(path: &str, mode: u32, major: u32, minor: u32) -> io::Result<i64> {
    let p = cstr(path)?;
    // SAFETY: a live NUL-terminated path.
    check(unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(major, minor)) } as i64)
}

/// kill(pid, 0): existence and permission check only, no signal is delivered.
pub fn kill0(pid: i32) -> io::Result<i64> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: signal 0 delivers nothing; pid > 0 names exactly one process.
    check(unsafe { libc::kill(pid, 0) } as i64)
}

/// shmget(key, size, flags).
pub fn shmget(key: i32, size: usize, flags: i32) -> io::Result<i64> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::shmget(key, size, flags) } as i64)
}

/// Attach segment `id` read-only, copy up to `n` bytes out, detach.
pub fn shm_read(id: i32, n: usize) -> io::Result<Vec<u8>> {
    let mut ds: libc::shmid_ds = unsafe_zeroed_shmid_ds();
    // SAFETY: IPC_STAT writes one shmid_ds into a live local of that type.
    check(unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } as i64)?;
    let len = n.min(ds.shm_segsz);
    // SAFETY: a NULL address lets the kernel choose; SHM_RDONLY maps read-only.
    let p = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if p as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the segment is mapped at `p` for at least shm_segsz ≥ len bytes until shmdt.
    let out = unsafe { std::slice::from_raw_parts(p as *const u8, len) }.to_vec();
    // SAFETY: `p` is the address shmat returned; nothing refers to it after this.
    unsafe { libc::shmdt(p) };
    Ok(out)
}

/// Attach segment `id` read-write and copy `data` to its start, detach (tenant B, own segment).
pub fn shm_write(id: i32, data: &[u8]) -> io::Result<()> {
    let mut ds: libc::shmid_ds = unsafe_zeroed_shmid_ds();
    // SAFETY: as in shm_read.
    check(unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } as i64)?;
    if data.len() > ds.shm_segsz {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: the kernel chooses the address.
    let p = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if p as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the segment is mapped writable at `p` for shm_segsz ≥ data.len() bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), p as *mut u8, data.len());
        libc::shmdt(p);
    }
    Ok(())
}

/// shmctl(id, IPC_RMID).
pub fn shm_remove(id: i32) -> io::Result<i64> {
    // SAFETY: IPC_RMID ignores the buffer argument.
    check(unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } as i64)
}

fn unsafe_zeroed_shmid_ds() -> libc::shmid_ds {
    // SAFETY: shmid_ds is a plain C struct of integers, for which all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn close(fd: i64) {
    // SAFETY: `fd` was just returned to us by the kernel and nothing else owns it.
    unsafe { libc::close(fd as i32) };
}
