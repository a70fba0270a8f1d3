//! Compact BPF for allow-/deny-list profiles on x86 (x86_64, i386, x32).
//!
//! libseccomp's binary-tree layout tests syscall numbers one by one: moat's
//! default profile (~350 names, 3 architectures) comes out at ~1200
//! instructions, and every container pays for them (the kernel copies the
//! filter, converts it to eBPF and JITs it per container). This compiler
//! makes the same decision for every (arch, nr, args) with far fewer
//! instructions:
//!
//! ```text
//! ld arch; jeq AUDIT_ARCH_X86_64 / AUDIT_ARCH_I386 ... else ret KILL_THREAD
//! per arch:  ld nr
//!            balanced binary search (jge) over the sorted ranges of numbers
//!              that share an outcome (a short jeq list where that is
//!              smaller); leaves jump to a shared ret or to the syscall's
//!              argument checks
//!            argument-check blocks, then one ret per distinct action
//! far jumps (> 255 instructions) go through a copy of the ret or a ja
//! ```
//!
//! It replicates libseccomp 2.5's decisions, including the ones that are not
//! obvious (see the equivalence test in `tests/compact.rs`, which runs both
//! programs in a BPF interpreter):
//! - the native architecture (x86_64) is always in the filter; x32 shares
//!   x86_64's AUDIT_ARCH: its rules (numbers with bit 0x4000_0000) sit in the
//!   same tree. Without x32, x86_64 numbers >= 0x4000_0000 other than
//!   0xffff_ffff hit the bad-arch action (KILL_THREAD), like other arches.
//! - argument checks compare both 32-bit halves on x86_64, only the low half
//!   on i386 and x32;
//! - on i386, socket and SysV IPC calls are also reachable through
//!   `socketcall`/`ipc`: libseccomp adds rules on the multiplexer for them.
//!   Only the case where the multiplexer has an unconditional rule with the
//!   same action (which then decides alone) is supported.
//!
//! Anything else (other architectures, LT/GT/... comparisons, ANDed
//! conditions, NOTIFY, values wider than 32 bits, a syscall with rules of
//! different actions, an invalid profile) is [`Unsupported`], with the
//! reason: the caller compiles with libseccomp, which also reports the
//! errors.

use std::collections::{BTreeMap, HashMap};

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::Program;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `SECCOMP_RET_*` values.
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
/// libseccomp's default bad-architecture action.
const RET_BAD_ARCH: u32 = RET_KILL_THREAD;

/// Classic BPF opcodes used here.
const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

/// `struct seccomp_data` offsets (little endian: an argument's low word
/// first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg_lo(index: u8) -> u32 {
    16 + 8 * u32::from(index)
}
fn off_arg_hi(index: u8) -> u32 {
    off_arg_lo(index) + 4
}

/// Pseudo syscall numbers libseccomp gives names that do not exist on an
/// architecture are at or below this.
const PNR_NOT_ON_ARCH: i32 = -10000;
/// i386 multiplexers and libseccomp's pseudo numbers for the calls they
/// multiplex (`-100 - SYS_*` for socketcall, `-200 - call` for ipc).
const I386_SOCKETCALL: u32 = 102;
const I386_IPC: u32 = 117;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Op {
    Eq,
    Ne,
    MaskedEq(u32),
}

/// One comparison of one argument against a 32-bit value (wider values are
/// not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Cond {
    index: u8,
    op: Op,
    value: u32,
}

/// What a profile says about one syscall number of one AUDIT_ARCH.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Always(u32),
    /// `ret` when any of the conditions holds, else the default action.
    /// `wide`: compare both halves of the arguments (64-bit ABI).
    AnyOf {
        ret: u32,
        conds: Vec<Cond>,
        wide: bool,
    },
}

/// A rule of the profile, validated and translated.
struct Rule<'a> {
    names: &'a [String],
    ret: u32,
    /// Empty: unconditional; else ORed.
    conds: Vec<Cond>,
}

/// Why [`compile_compact`] left a profile to libseccomp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("compact seccomp compiler: {0}")]
pub struct Unsupported(pub String);

fn no<T>(reason: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(reason.into()))
}

/// Compile `s` to compact BPF, or say why the profile is outside what this
/// compiler replicates exactly (the caller then uses libseccomp, which also
/// reports invalid profiles).
pub fn compile_compact(s: &LinuxSeccomp) -> Result<Program, Unsupported> {
    if cfg!(target_endian = "big") || ScmpArch::native() != ScmpArch::X8664 {
        return no("the native architecture is not x86_64");
    }
    let Some(default) = action_ret(s.default_action(), s.default_errno_ret()) else {
        return no("default action NOTIFY or an errno libseccomp refuses");
    };

    // The native arch is always in a libseccomp filter.
    let (mut x32, mut i386) = (false, false);
    for arch in s.architectures().iter().flatten() {
        match arch {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => {}
            Arch::ScmpArchX32 => x32 = true,
            Arch::ScmpArchX86 => i386 = true,
            other => return no(format!("architecture {other:?}")),
        }
    }

    let mut rules = Vec::new();
    for r in s.syscalls().iter().flatten() {
        let names = r.names().join(",");
        let Some(ret) = action_ret(r.action(), r.errno_ret()) else {
            return no(format!(
                "{names}: action NOTIFY or an errno libseccomp refuses"
            ));
        };
        let args = r.args().as_deref().unwrap_or(&[]);
        let mut conds = Vec::with_capacity(args.len());
        for a in args {
            let Some(index) = u8::try_from(a.index()).ok().filter(|i| *i <= 5) else {
                return no(format!("{names}: argument index {}", a.index()));
            };
            let Ok(value) = u32::try_from(a.value()) else {
                return no(format!(
                    "{names}: value {:#x} wider than 32 bits",
                    a.value()
                ));
            };
            let (op, value) = match a.op() {
                LinuxSeccompOperator::ScmpCmpEq => (Op::Eq, value),
                LinuxSeccompOperator::ScmpCmpNe => (Op::Ne, value),
                LinuxSeccompOperator::ScmpCmpMaskedEq => {
                    // OCI: value is the mask, valueTwo the value.
                    let two = a.value_two().unwrap_or(0);
                    let Ok(want) = u32::try_from(two) else {
                        return no(format!("{names}: valueTwo {two:#x} wider than 32 bits"));
                    };
                    if want & !value != 0 {
                        return no(format!(
                            "{names}: valueTwo {want:#x} outside mask {value:#x}"
                        ));
                    }
                    (Op::MaskedEq(value), want)
                }
                op => return no(format!("{names}: operator {op:?}")),
            };
            conds.push(Cond { index, op, value });
        }
        // Several conditions on distinct arguments are ANDed by `compile`:
        // not supported. (Conditions sharing an argument become one rule
        // each, i.e. are ORed.)
        let mut seen = [false; 6];
        let distinct = conds
            .iter()
            .all(|c| !std::mem::replace(&mut seen[usize::from(c.index)], true));
        if conds.len() > 1 && distinct {
            return no(format!("{names}: conditions on distinct arguments (AND)"));
        }
        if ret == default {
            continue;
        }
        rules.push(Rule {
            names: r.names(),
            ret,
            conds,
        });
    }

    let mut x86_64_tree = Tree::default();
    let mut i386_tree = Tree::default();
    // (multiplexer nr, action) pairs that must hold on i386.
    let mut mux_needs: Vec<(u32, u32)> = Vec::new();
    let mut i386_names: Option<HashMap<String, u32>> = None;
    for rule in &rules {
        for name in rule.names {
            // `compile` skips names libseccomp does not know natively.
            if ScmpSyscall::from_name(name).is_err() {
                continue;
            }
            let mut arches = vec![(ScmpArch::X8664, true)];
            if x32 {
                arches.push((ScmpArch::X32, false));
            }
            for (arch, wide) in arches {
                match resolve(name, arch)? {
                    Some(nr) => x86_64_tree.add(nr, rule, wide)?,
                    None => continue,
                }
            }
            if i386 {
                let Ok(nr) = ScmpSyscall::from_name_by_arch(name, ScmpArch::X86) else {
                    continue;
                };
                let nr = nr.as_raw_syscall();
                if nr >= 0 {
                    i386_tree.add(nr as u32, rule, false)?;
                } else if nr <= PNR_NOT_ON_ARCH {
                    continue;
                } else if (-300..=-100).contains(&nr) {
                    let mux = if nr > -200 { I386_SOCKETCALL } else { I386_IPC };
                    mux_needs.push((mux, rule.ret));
                    // The direct syscall, when i386 has one.
                    let table = i386_names.get_or_insert_with(i386_table);
                    if let Some(direct) = table.get(name.as_str()) {
                        i386_tree.add(*direct, rule, false)?;
                    }
                } else {
                    return no(format!("{name}: i386 pseudo syscall number {nr}"));
                }
            }
        }
    }
    for (mux, ret) in mux_needs {
        if i386_tree.entries.get(&mux) != Some(&Entry::Always(ret)) {
            return no(format!(
                "i386 multiplexed calls with action {ret:#x} need syscall {mux} \
                 (socketcall/ipc) to have an unconditional rule with that action"
            ));
        }
    }

    let mut asm = Asm::default();
    let bad_arch = asm.label();
    let x86_64_label = asm.label();
    let i386_label = asm.label();
    asm.ld(OFF_ARCH);
    let after = asm.label();
    asm.jeq(AUDIT_ARCH_X86_64, x86_64_label, after);
    asm.place(after);
    if i386 {
        asm.jeq(AUDIT_ARCH_I386, i386_label, bad_arch);
    }
    asm.place(bad_arch);
    asm.ret(RET_BAD_ARCH);

    asm.place(x86_64_label);
    // Without x32, x86_64 numbers with the x32 bit are a bad arch, except -1
    // (libseccomp: `jge 0x40000000 ? (jeq -1 ? tree : bad arch) : tree`).
    let extra = (!x32).then_some((X32_SYSCALL_BIT, u32::MAX - 1, RET_BAD_ARCH));
    x86_64_tree.emit(&mut asm, default, extra);
    if i386 {
        asm.place(i386_label);
        i386_tree.emit(&mut asm, default, None);
    }

    let Some(bpf) = asm.assemble() else {
        return no("internal error: a jump to an unplaced or earlier label");
    };
    if bpf.len() / moat_sys::seccomp::INSN_SIZE > moat_sys::seccomp::MAX_INSNS {
        return no("more instructions than the kernel accepts");
    }
    Ok(Program {
        bpf,
        flags: crate::compile::filter_flags(s, false),
        uses_notify: false,
        listener_path: s.listener_path().clone(),
    })
}

/// libseccomp refuses `SCMP_ACT_ERRNO` data at or above this.
const MAX_ERRNO: u16 = 4095;

/// The `SECCOMP_RET_*` value of an action; `None` for NOTIFY (not supported
/// here) and for an errno libseccomp refuses (>= MAX_ERRNO for ERRNO, wider
/// than 16 bits for TRACE: an error `compile` reports).
fn action_ret(action: LinuxSeccompAction, errno: Option<u32>) -> Option<u32> {
    let data = || u16::try_from(errno.unwrap_or(crate::compile::DEFAULT_ERRNO)).ok();
    Some(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => {
            RET_ERRNO | u32::from(data().filter(|e| *e < MAX_ERRNO)?)
        }
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | u32::from(data()?),
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => return None,
    })
}

/// `name`'s number on x86_64 or x32, `None` when it does not exist there.
fn resolve(name: &str, arch: ScmpArch) -> Result<Option<u32>, Unsupported> {
    let Ok(nr) = ScmpSyscall::from_name_by_arch(name, arch) else {
        return Ok(None);
    };
    // Negative: a pseudo number (absent, or a socketcall/ipc call, which
    // x86_64 and x32 make directly or not at all).
    Ok(u32::try_from(nr.as_raw_syscall()).ok())
}

/// i386's syscall names -> numbers (to find the direct syscall of a name
/// libseccomp resolves to a socketcall/ipc pseudo number).
fn i386_table() -> HashMap<String, u32> {
    (0..1024)
        .filter_map(|nr| {
            let name = ScmpSyscall::from(nr).get_name_by_arch(ScmpArch::X86).ok()?;
            Some((name, nr as u32))
        })
        .collect()
}

/// The rules of one AUDIT_ARCH, by syscall number.
#[derive(Default)]
struct Tree {
    entries: BTreeMap<u32, Entry>,
}

/// Where the number search sends a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    /// The argument checks of this syscall number.
    Check(u32),
}

impl Tree {
    /// Add `rule` for `nr`; unsupported when it conflicts with what is there
    /// (libseccomp's priorities between such rules are not replicated).
    fn add(&mut self, nr: u32, rule: &Rule, wide: bool) -> Result<(), Unsupported> {
        let new = if rule.conds.is_empty() {
            Entry::Always(rule.ret)
        } else {
            Entry::AnyOf {
                ret: rule.ret,
                conds: rule.conds.clone(),
                wide,
            }
        };
        match (self.entries.get_mut(&nr), new) {
            (None, new) => {
                self.entries.insert(nr, new);
            }
            (Some(Entry::Always(a)), Entry::Always(b)) if *a == b => {}
            (
                Some(Entry::AnyOf {
                    ret,
                    conds,
                    wide: w,
                }),
                Entry::AnyOf {
                    ret: r,
                    conds: c,
                    wide: w2,
                },
            ) if *ret == r && *w == w2 => conds.extend(c),
            _ => {
                return no(format!(
                    "syscall {nr} has rules of different actions or kinds ({})",
                    rule.names.join(",")
                ))
            }
        }
        Ok(())
    }

    /// Emit `ld nr`, the search, the argument checks and the rets. `extra`: a range `(first, last, ret)` of numbers with no rule
    /// that do not get the default action.
    fn emit(&self, asm: &mut Asm, default: u32, extra: Option<(u32, u32, u32)>) {
        let leaf_of = |nr: u32| match self.entries.get(&nr) {
            Some(Entry::Always(r)) => Leaf::Ret(*r),
            Some(Entry::AnyOf { .. }) => Leaf::Check(nr),
            None => match extra {
                Some((lo, hi, r)) if (lo..=hi).contains(&nr) => Leaf::Ret(r),
                _ => Leaf::Ret(default),
            },
        };
        // Argument checks are leaves of the search like the rets: a jeq per
        // such syscall before the search would be one instruction smaller
        // (no boundaries around it) but cost every syscall one more step.
        let mut items: Vec<(u32, u32, Leaf)> = (self.entries.keys())
            .map(|&nr| (nr, nr, leaf_of(nr)))
            .collect();
        if let Some((lo, hi, r)) = extra {
            // No rule is in this range on x86_64 (numbers with the x32 bit
            // only exist on x32).
            debug_assert!(self.entries.range(lo..=hi).next().is_none());
            items.push((lo, hi, Leaf::Ret(r)));
            items.sort_by_key(|i| i.0);
        }
        let segments = segments(&items, Leaf::Ret(default));

        let mut rets: BTreeMap<u32, Label> = BTreeMap::new();
        let mut checks: BTreeMap<u32, Label> = BTreeMap::new();
        let mut label_of = |asm: &mut Asm, leaf: Leaf| match leaf {
            Leaf::Ret(r) => *rets.entry(r).or_insert_with(|| asm.label()),
            Leaf::Check(nr) => *checks.entry(nr).or_insert_with(|| asm.label()),
        };
        asm.ld(OFF_NR);
        let leaves: Vec<Label> = segments.iter().map(|s| label_of(asm, s.1)).collect();
        search(asm, &segments, &leaves, 0, segments.len() - 1);
        let fail = label_of(asm, Leaf::Ret(default));
        let mut blocks = Vec::new();
        for (nr, e) in &self.entries {
            if let Entry::AnyOf { ret, conds, wide } = e {
                blocks.push((
                    label_of(asm, Leaf::Check(*nr)),
                    label_of(asm, Leaf::Ret(*ret)),
                    conds,
                    *wide,
                ));
            }
        }
        for (l, ok, conds, wide) in blocks {
            asm.place(l);
            emit_conds(asm, conds, wide, ok, fail);
        }
        for (r, l) in rets {
            asm.place(l);
            asm.ret(r);
        }
    }
}

/// Sorted, disjoint `(first, last, leaf)` items -> the starts and leaves of
/// the maximal ranges covering all of u32 (gaps get `default`).
fn segments(items: &[(u32, u32, Leaf)], default: Leaf) -> Vec<(u32, Leaf)> {
    let mut segs: Vec<(u32, Leaf)> = vec![(0, default)];
    let push = |segs: &mut Vec<(u32, Leaf)>, start: u32, r: Leaf| {
        let Some(last) = segs.last_mut() else {
            segs.push((start, r));
            return;
        };
        if last.1 == r {
            return;
        }
        if last.0 == start {
            last.1 = r;
            if segs.len() >= 2 && segs[segs.len() - 2].1 == r {
                segs.pop();
            }
            return;
        }
        segs.push((start, r));
    };
    let mut next: u64 = 0;
    for &(first, last, leaf) in items {
        if u64::from(first) > next {
            push(&mut segs, next as u32, default);
        }
        push(&mut segs, first, leaf);
        next = u64::from(last) + 1;
    }
    if next <= u64::from(u32::MAX) {
        push(&mut segs, next as u32, default);
    }
    segs
}

/// Balanced binary search over `segs[lo..=hi]`, jumping to `leaves[i]` for
/// the segment holding the number in A.
fn search(asm: &mut Asm, segs: &[(u32, Leaf)], leaves: &[Label], lo: usize, hi: usize) {
    if lo == hi {
        asm.ja(leaves[lo]);
        return;
    }
    if let Some((background, listed)) = as_list(segs, lo, hi) {
        // jeq per listed number, the last one falling to the background.
        for (n, &i) in listed.iter().enumerate() {
            let miss = if n + 1 == listed.len() {
                leaves[background]
            } else {
                asm.label()
            };
            asm.jeq(segs[i].0, leaves[i], miss);
            if n + 1 < listed.len() {
                asm.place(miss);
            }
        }
        return;
    }
    let target = |asm: &mut Asm, lo: usize, hi: usize| {
        if lo == hi {
            (leaves[lo], false)
        } else {
            (asm.label(), true)
        }
    };
    let mid = (lo + hi).div_ceil(2);
    let (below, below_inner) = target(asm, lo, mid - 1);
    let (above, above_inner) = target(asm, mid, hi);
    asm.jge(segs[mid].0, above, below);
    if below_inner {
        asm.place(below);
        search(asm, segs, leaves, lo, mid - 1);
    }
    if above_inner {
        asm.place(above);
        search(asm, segs, leaves, mid, hi);
    }
}

/// At most this many `jeq`s in a list at the bottom of the search.
const MAX_LIST: usize = 4;

/// `segs[lo..=hi]` as a background segment plus a short list of single
/// numbers that differ from it, when that is smaller than a search (a run of
/// isolated numbers costs one jeq each instead of two jge).
fn as_list(segs: &[(u32, Leaf)], lo: usize, hi: usize) -> Option<(usize, Vec<usize>)> {
    let single = |i: usize| match segs.get(i + 1) {
        Some(next) => next.0 == segs[i].0 + 1,
        None => segs[i].0 == u32::MAX,
    };
    // The background: the leaf of every segment wider than one number.
    let background = (lo..=hi).find(|&i| !single(i)).unwrap_or(hi);
    let bg = segs[background].1;
    if (lo..=hi).any(|i| !single(i) && segs[i].1 != bg) {
        return None;
    }
    let listed: Vec<usize> = (lo..=hi).filter(|&i| segs[i].1 != bg).collect();
    (!listed.is_empty() && listed.len() <= MAX_LIST && listed.len() < hi - lo)
        .then_some((background, listed))
}

/// Fall through when argument `index`'s high 32 bits are zero (a 32-bit
/// value can only equal it then), else jump to `miss`.
fn hi_word_zero(asm: &mut Asm, index: u8, miss: Label) {
    let lo = asm.label();
    asm.ld(off_arg_hi(index));
    asm.jeq(0, lo, miss);
    asm.place(lo);
}

/// Jump to `ok` when any of `conds` holds, else to `fail`. Equality tests
/// on one argument share their loads.
fn emit_conds(asm: &mut Asm, conds: &[Cond], wide: bool, ok: Label, fail: Label) {
    let mut conds = conds.to_vec();
    conds.sort();
    conds.dedup();
    let mut i = 0;
    while i < conds.len() {
        let c = conds[i];
        // A run of EQ tests on the same argument.
        let mut j = i + 1;
        if c.op == Op::Eq {
            while j < conds.len() && conds[j].op == Op::Eq && conds[j].index == c.index {
                j += 1;
            }
        }
        let next = if j == conds.len() { fail } else { asm.label() };
        match c.op {
            Op::Eq => {
                if wide {
                    hi_word_zero(asm, c.index, next);
                }
                asm.ld(off_arg_lo(c.index));
                for (n, e) in conds[i..j].iter().enumerate() {
                    let miss = if i + n + 1 == j { next } else { asm.label() };
                    asm.jeq(e.value, ok, miss);
                    if miss != next {
                        asm.place(miss);
                    }
                }
            }
            Op::Ne => {
                if wide {
                    hi_word_zero(asm, c.index, ok);
                }
                asm.ld(off_arg_lo(c.index));
                asm.jeq(c.value, next, ok);
            }
            Op::MaskedEq(mask) => {
                // Value and mask fit in 32 bits: the high half always
                // matches (0 & x == 0).
                asm.ld(off_arg_lo(c.index));
                if mask != u32::MAX {
                    asm.and(mask);
                }
                asm.jeq(c.value, ok, next);
            }
        }
        if next != fail {
            asm.place(next);
        }
        i = j;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Label(usize);

#[derive(Clone, Copy, Debug)]
enum Insn {
    Ld(u32),
    And(u32),
    Jump {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Ja(Label),
    Ret(u32),
    Place(Label),
}

/// A tiny assembler with forward labels; conditional jumps farther than 255
/// instructions go through `ja` trampolines.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    fn place(&mut self, l: Label) {
        self.insns.push(Insn::Place(l));
    }
    fn ld(&mut self, off: u32) {
        self.insns.push(Insn::Ld(off));
    }
    fn and(&mut self, k: u32) {
        self.insns.push(Insn::And(k));
    }
    fn jeq(&mut self, k: u32, jt: Label, jf: Label) {
        self.insns.push(Insn::Jump {
            code: JMP_JEQ_K,
            k,
            jt,
            jf,
        });
    }
    fn jge(&mut self, k: u32, jt: Label, jf: Label) {
        self.insns.push(Insn::Jump {
            code: JMP_JGE_K,
            k,
            jt,
            jf,
        });
    }
    fn ja(&mut self, l: Label) {
        self.insns.push(Insn::Ja(l));
    }
    fn ret(&mut self, k: u32) {
        self.insns.push(Insn::Ret(k));
    }

    /// Positions of the labels; `None` for a label never placed.
    fn positions(&self) -> Vec<Option<usize>> {
        let mut pos = vec![None; self.labels];
        let mut pc = 0;
        for i in &self.insns {
            match i {
                Insn::Place(l) => pos[l.0] = Some(pc),
                _ => pc += 1,
            }
        }
        pos
    }

    /// The program's bytes; `None` if a label was never placed or a jump
    /// goes backwards (bugs here: the caller then falls back to libseccomp).
    fn assemble(mut self) -> Option<Vec<u8>> {
        // Until every conditional jump fits in 8 bits: take the first jump
        // with a far branch and send that branch to an instruction in reach
        // that does what its target does (a `ret` of the same value, a `ja`
        // to it), else to a new one of those. The new one goes after an
        // instruction that does not fall through (so no other path changes),
        // up to TRAMPOLINE_AHEAD instructions on, where the jumps that
        // follow can share it; the slack left absorbs the trampolines
        // inserted before it later. Gives up (None) if that does not settle.
        const TRAMPOLINE_AHEAD: usize = 200;
        for _ in 0..10_000 {
            let pos = self.positions();
            let index_of: Vec<usize> = (self.insns.iter().enumerate())
                .filter(|(_, i)| !matches!(i, Insn::Place(_)))
                .map(|(n, _)| n)
                .collect();
            let far = |pc: usize, l: Label| pos[l.0].is_some_and(|at| at > pc + 1 + 255);
            let first = (0..index_of.len()).find(|&pc| match self.insns[index_of[pc]] {
                Insn::Jump { jt, jf, .. } => far(pc, jt) || far(pc, jf),
                _ => false,
            });
            let Some(pc) = first else {
                return self.encode();
            };
            let idx = index_of[pc];
            let Insn::Jump { code, k, jt, jf } = self.insns[idx] else {
                return None;
            };
            let orig = if far(pc, jt) { jt } else { jf };
            let target_pc = pos[orig.0]?;
            let target = self.insns[index_of[target_pc]];
            let same = |i: &Insn| match (target, i) {
                (Insn::Ret(a), Insn::Ret(b)) => a == *b,
                (_, Insn::Ja(l)) => pos[l.0] == Some(target_pc),
                _ => false,
            };
            let found = (pc + 1..=pc + 256)
                .find(|&p| same(&self.insns[index_of[p]]))
                .map(|p| index_of[p]);
            let l = self.label();
            match found {
                Some(at) => self.insns.insert(at, Insn::Place(l)),
                None => {
                    let tramp = match target {
                        Insn::Ret(r) => Insn::Ret(r),
                        _ => Insn::Ja(orig),
                    };
                    let after = (pc..=pc + TRAMPOLINE_AHEAD)
                        .rev()
                        .find(|&p| {
                            matches!(
                                self.insns[index_of[p]],
                                Insn::Jump { .. } | Insn::Ja(_) | Insn::Ret(_)
                            )
                        })
                        .map_or(idx, |p| index_of[p]);
                    self.insns
                        .splice(after + 1..after + 1, [Insn::Place(l), tramp]);
                }
            }
            let (jt, jf) = if orig == jt && far(pc, jt) {
                (l, jf)
            } else {
                (jt, l)
            };
            self.insns[idx] = Insn::Jump { code, k, jt, jf };
        }
        None
    }

    /// The instructions as `struct sock_filter`s; `None` for a jump to a
    /// label never placed, backwards or too far.
    fn encode(&self) -> Option<Vec<u8>> {
        let pos = self.positions();
        let mut out = Vec::with_capacity(self.insns.len() * 8);
        let mut put = |code: u16, jt: u8, jf: u8, k: u32| {
            out.extend_from_slice(&code.to_ne_bytes());
            out.push(jt);
            out.push(jf);
            out.extend_from_slice(&k.to_ne_bytes());
        };
        let mut pc = 0;
        for i in &self.insns {
            // Jumps are forward only.
            let rel = |l: Label| pos[l.0]?.checked_sub(pc + 1);
            match *i {
                Insn::Place(_) => continue,
                Insn::Ld(off) => put(LD_W_ABS, 0, 0, off),
                Insn::And(k) => put(ALU_AND_K, 0, 0, k),
                Insn::Jump { code, k, jt, jf } => {
                    let byte = |l| u8::try_from(rel(l)?).ok();
                    put(code, byte(jt)?, byte(jf)?, k)
                }
                Insn::Ja(l) => put(JMP_JA, 0, 0, u32::try_from(rel(l)?).ok()?),
                Insn::Ret(k) => put(RET_K, 0, 0, k),
            }
            pc += 1;
        }
        Some(out)
    }
}
