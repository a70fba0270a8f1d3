//! OCI `linux.seccomp` -> libseccomp filter -> BPF bytes.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

pub use crate::compact::{compile_compact, Unsupported};
use crate::{Error, Program};

/// The errno `SCMP_ACT_ERRNO` / `SCMP_ACT_TRACE` return when the profile
/// gives none (as runc).
pub(crate) const DEFAULT_ERRNO: u32 = 1; // EPERM

/// Highest argument index a syscall has.
const MAX_ARG_INDEX: usize = 5;

/// Compile `s` to a BPF program: with the compact compiler
/// ([`compile_compact`]) when it supports the profile (allow-/deny-lists with
/// simple argument checks on x86: moat's default profile is ~4x smaller),
/// else with libseccomp ([`compile_libseccomp`]). Both make the same
/// decisions.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, Error> {
    compile_compact(s).or_else(|_| compile_libseccomp(s))
}

/// Compile `s` to a BPF program with libseccomp (exported into memory, never
/// loaded into this process).
///
/// Semantics follow runc: syscall names libseccomp does not know are skipped;
/// rules whose action equals the default action are skipped; `errnoRet`
/// defaults to `EPERM` and is ignored for actions other than `SCMP_ACT_ERRNO`
/// and `SCMP_ACT_TRACE`; conditions on distinct arguments are ANDed in one
/// rule, several conditions on the same argument become one rule each (ORed);
/// for `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` the value;
/// `SCMP_ACT_NOTIFY` may not be the default action nor apply to `write`.
/// Architectures not in the profile (other than the native one) hit
/// libseccomp's bad-arch action, `KILL_THREAD`.
pub fn compile_libseccomp(s: &LinuxSeccomp) -> Result<Program, Error> {
    let default =
        translate_action(s.default_action(), s.default_errno_ret()).map_err(|reason| {
            Error::InvalidProfile {
                field: "defaultAction",
                reason,
            }
        })?;
    if default == ScmpAction::Notify {
        return Err(Error::InvalidProfile {
            field: "defaultAction",
            reason: "SCMP_ACT_NOTIFY cannot be the default action".into(),
        });
    }

    let mut ctx = ScmpFilterContext::new(default).map_err(lib("creating the filter context"))?;
    // Binary-tree layout: about half the load and lookup cost of the linear
    // layout for profiles with hundreds of syscalls.
    ctx.set_ctl_optimize(2)
        .map_err(lib("selecting the binary-tree optimisation"))?;
    for arch in s.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(*arch))
            .map_err(lib("adding an architecture"))?;
    }

    let mut uses_notify = false;
    for rule in s.syscalls().iter().flatten() {
        if add_rule(&mut ctx, rule, default)? {
            uses_notify = true;
        }
    }

    let bpf = export(&ctx)?;
    Ok(Program {
        bpf,
        flags: filter_flags(s, uses_notify),
        uses_notify,
        listener_path: s.listener_path().clone(),
    })
}

/// The `SECCOMP_FILTER_FLAG_*` bits for `s`'s flags.
pub(crate) fn filter_flags(s: &LinuxSeccomp, uses_notify: bool) -> u32 {
    let mut flags = 0u32;
    for flag in s.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => crate::FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => crate::FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => crate::FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                crate::FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if uses_notify {
        flags |= crate::FLAG_NEW_LISTENER;
        if flags & crate::FLAG_TSYNC != 0 {
            // The kernel rejects TSYNC together with NEW_LISTENER unless
            // failures are reported as ESRCH.
            flags |= crate::FLAG_TSYNC_ESRCH;
        }
    } else {
        // Only meaningful (and only accepted by the kernel) with a listener.
        flags &= !crate::FLAG_WAIT_KILLABLE_RECV;
    }
    flags
}

/// Add the rules of one OCI syscall entry; returns whether its action is
/// `SCMP_ACT_NOTIFY`.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<bool, Error> {
    let names = rule.names();
    let invalid = |reason: String| Error::InvalidRule {
        syscall: names.join(","),
        reason,
    };
    let action = translate_action(rule.action(), rule.errno_ret()).map_err(invalid)?;
    let notify = action == ScmpAction::Notify;
    if notify && names.iter().any(|n| n == "write") {
        return Err(Error::InvalidRule {
            syscall: "write".into(),
            reason: "SCMP_ACT_NOTIFY cannot be used for the write syscall".into(),
        });
    }
    let args = rule.args().as_deref().unwrap_or(&[]);
    let conds = args
        .iter()
        .map(translate_arg)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if action == default {
        return Ok(notify);
    }
    // libseccomp cannot AND two comparisons on the same argument: runc then
    // adds each condition as a rule of its own.
    let mut seen = [false; MAX_ARG_INDEX + 1];
    let distinct = args
        .iter()
        .all(|a| !std::mem::replace(&mut seen[a.index()], true));

    for name in names {
        // Unknown to libseccomp (too new, or not a syscall at all): ignored,
        // as runc does.
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let added = if conds.is_empty() {
            ctx.add_rule(action, syscall).map(|_| ())
        } else if distinct {
            ctx.add_rule_conditional(action, syscall, &conds)
                .map(|_| ())
        } else {
            conds.iter().try_for_each(|c| {
                ctx.add_rule_conditional(action, syscall, std::slice::from_ref(c))
                    .map(|_| ())
            })
        };
        added.map_err(|source| Error::Rule {
            syscall: name.clone(),
            source,
        })?;
    }
    Ok(notify)
}

fn translate_action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let ret = |what: &str| -> Result<u16, String> {
        let e = errno.unwrap_or(DEFAULT_ERRNO);
        u16::try_from(e).map_err(|_| format!("errnoRet {e} for {what} does not fit in 16 bits"))
    };
    Ok(match action {
        // SCMP_ACT_KILL is libseccomp's (and the kernel's) KILL_THREAD.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret("SCMP_ACT_ERRNO")?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret("SCMP_ACT_TRACE")?),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn translate_arg(a: &LinuxSeccompArg) -> Result<ScmpArgCompare, String> {
    if a.index() > MAX_ARG_INDEX {
        return Err(format!(
            "argument index {} out of range (0..={MAX_ARG_INDEX})",
            a.index()
        ));
    }
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            // OCI: value is the mask, valueTwo the value to compare with.
            return Ok(ScmpArgCompare::new(
                a.index() as u32,
                ScmpCompareOp::MaskedEqual(a.value()),
                a.value_two().unwrap_or(0),
            ));
        }
    };
    Ok(ScmpArgCompare::new(a.index() as u32, op, a.value()))
}

fn translate_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn lib(step: &'static str) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    move |source| Error::Libseccomp { step, source }
}

/// `seccomp_export_bpf` writes to an fd; libseccomp 2.5 has no in-memory
/// export, so write into an anonymous memfd and read it back.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, Error> {
    let io = |step: &'static str| {
        move |source: std::io::Error| Error::Io {
            step,
            path: PathBuf::from("memfd:moat-seccomp"),
            source,
        }
    };
    let fd = rustix::fs::memfd_create("moat-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| io("creating")(e.into()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file).map_err(lib("exporting the BPF"))?;
    let mut bpf = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io("rewinding"))?;
    file.read_to_end(&mut bpf).map_err(io("reading back"))?;
    if bpf.is_empty() || bpf.len() % moat_sys::seccomp::INSN_SIZE != 0 {
        return Err(io("checking")(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "libseccomp exported {} bytes, not whole instructions",
                bpf.len()
            ),
        )));
    }
    if bpf.len() / moat_sys::seccomp::INSN_SIZE > moat_sys::seccomp::MAX_INSNS {
        return Err(Error::InvalidProfile {
            field: "syscalls",
            reason: format!(
                "the compiled filter has {} instructions, more than the kernel's {}",
                bpf.len() / moat_sys::seccomp::INSN_SIZE,
                moat_sys::seccomp::MAX_INSNS
            ),
        });
    }
    Ok(bpf)
}
