//! eBPF for the cgroup v2 device controller: load a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program, attach it to a cgroup directory (`BPF_CGROUP_DEVICE`, `BPF_F_ALLOW_MULTI`),
//! list and detach what is attached there.
//!
//! On cgroup v2 there is no `devices.allow`/`devices.deny`: the kernel asks every program
//! attached to the cgroup (and its ancestors) whether a device access is allowed. runc and
//! crun generate one program per container; the generator lives in `moat-cgroups`
//! (pure code), this module only makes the syscalls.
//!
//! Replacing a program (an update) follows runc: query the attached programs, attach the
//! new one, then detach the old ones, so that there is never a moment with no filter.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_PROG_LOAD`.
const CMD_PROG_LOAD: libc::c_int = 5;
/// `BPF_PROG_ATTACH`.
const CMD_PROG_ATTACH: libc::c_int = 8;
/// `BPF_PROG_DETACH`.
const CMD_PROG_DETACH: libc::c_int = 9;
/// `BPF_PROG_GET_FD_BY_ID`.
const CMD_PROG_GET_FD_BY_ID: libc::c_int = 13;
/// `BPF_PROG_QUERY`.
const CMD_PROG_QUERY: libc::c_int = 16;

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` (attach type).
pub const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: several programs on one cgroup, all must allow.
pub const F_ALLOW_MULTI: u32 = 2;

/// Size of the verifier log buffer used when a load fails (the load is retried once
/// with the log enabled; the successful path never pays for it).
const LOG_SIZE: usize = 64 * 1024;

/// One eBPF instruction, `struct bpf_insn`: opcode, `dst_reg:4 | src_reg:4`, offset,
/// immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode (class | size/op | mode/source).
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble (little endian).
    pub regs: u8,
    /// Signed offset (memory access displacement or jump offset).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction from its fields (`dst`, `src` are register numbers 0..=10).
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0xf) | ((src & 0xf) << 4),
            off,
            imm,
        }
    }

    /// The destination register.
    pub const fn dst(&self) -> u8 {
        self.regs & 0xf
    }

    /// The source register.
    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr, sizeof *attr)`; returns the non-negative result.
///
/// The caller passes a `#[repr(C)]` prefix of `union bpf_attr` for `cmd`; the kernel
/// treats the missing tail as zero.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` struct of
    // `size_of::<T>()` bytes laid out as the prefix of `union bpf_attr` for `cmd`; the
    // kernel reads (and for QUERY writes) only within that size during the call. Any
    // pointers stored inside it are checked by the callers to outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a syscall result that is a new file descriptor.
fn owned(ret: libc::c_long) -> OwnedFd {
    // SAFETY: the bpf commands that return a descriptor (PROG_LOAD, PROG_GET_FD_BY_ID)
    // return a new, close-on-exec fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }
}

/// Loads `insns` as a `BPF_PROG_TYPE_CGROUP_DEVICE` program under `license` (e.g. `c"GPL"`
/// or `c"Apache"`; device programs need no GPL-only helpers). The fd keeps the program
/// alive until it is attached (attachment holds its own reference).
///
/// On failure the error keeps the kind of the errno and, when the verifier produced one,
/// carries its log (the load is retried once with the log enabled).
pub fn load_cgroup_device_prog(insns: &[Insn], license: &CStr) -> io::Result<OwnedFd> {
    match load(insns, license, None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; LOG_SIZE];
            match load(insns, license, Some(&mut log)) {
                // Raced into success (should not happen, but the program is valid).
                Ok(fd) => Ok(fd),
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    let text = text.trim();
                    if text.is_empty() {
                        Err(e)
                    } else {
                        Err(io::Error::new(
                            e.kind(),
                            format!("{e}; verifier log: {text}"),
                        ))
                    }
                }
            }
        }
    }
}

fn load(insns: &[Insn], license: &CStr, log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    let insn_cnt = u32::try_from(insns.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many instructions"))?;
    let mut attr = ProgLoadAttr {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: ATTACH_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..4].copy_from_slice(b"moat");
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(log.len()).unwrap_or(u32::MAX);
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    // `insns`, `license` and `log` are borrowed for this whole function, so the pointers
    // stored in `attr` are valid for the duration of the syscall.
    bpf(CMD_PROG_LOAD, &mut attr).map(owned)
}

/// Attaches `prog` to the cgroup directory `cgroup` as a device filter, with
/// `BPF_F_ALLOW_MULTI` (other programs on the same cgroup stay; all must allow).
pub fn attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        attach_flags: F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(CMD_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches the device program `prog` from the cgroup directory `cgroup`.
pub fn detach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(CMD_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached directly to `cgroup` (not inherited ones).
pub fn query_cgroup_device(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut cap: usize = 16;
    loop {
        let mut ids = vec![0u32; cap];
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: ATTACH_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: cap as u32,
            ..Default::default()
        };
        // `ids` lives until the end of this iteration, past the syscall; the kernel writes
        // at most `prog_cnt` u32s into it.
        match bpf(CMD_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate((attr.prog_cnt as usize).min(cap));
                return Ok(ids);
            }
            // The buffer is too small: prog_cnt now holds the real count.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cap < 1 << 16 => {
                cap = (attr.prog_cnt as usize).max(cap * 2);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A new fd for the loaded program with this id (needs CAP_SYS_ADMIN).
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(CMD_PROG_GET_FD_BY_ID, &mut attr).map(owned)
}

/// runc's update: remember the device programs attached to `cgroup`, attach `prog`
/// (`BPF_F_ALLOW_MULTI`), then detach the old ones. A program that disappears meanwhile
/// (ENOENT) is not an error.
pub fn replace_cgroup_device_prog(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let old = query_cgroup_device(cgroup)?;
    attach_cgroup_device(cgroup, prog)?;
    for id in old {
        let fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        match detach_cgroup_device(cgroup, fd.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let i = Insn::new(0x61, 2, 1, 4, -1);
        assert_eq!((i.dst(), i.src()), (2, 1));
        assert_eq!(i.regs, 0x12);
        // Offsets of the bpf_attr members the kernel reads.
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 20);
        assert_eq!(std::mem::size_of::<QueryAttr>(), 32);
    }
}
