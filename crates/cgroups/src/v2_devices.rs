//! cgroup v2 device rules: OCI `linux.resources.devices` → a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program (pure: [`program`]), loaded and attached to the leaf by [`apply`].
//!
//! ## Semantics
//! As v1 and runc's `devicefilter`: the **last** rule that matches a request decides;
//! when no rule matches the request is denied (a list that starts with an allow-all
//! `a *:* rwm` therefore behaves as "allow by default", exactly as in v1). A rule matches on
//! type (`a` = both), major and minor (absent or negative = wildcard). Access is decided
//! **per access bit** (`m`, `r`, `w`): a request (the kernel may ask for `rw` at once on an
//! `O_RDWR` open) is allowed only if each of its bits is allowed by the last rule that
//! matches the device *and names that bit*. This is what v1 does with its exception lists
//! (`allow c 1:3 rwm` then `deny c 1:3 w` leaves `c 1:3 rm`, so an `O_RDWR` open fails),
//! and it closes the hole of a whole-request match, where that open would be matched by
//! the allow rule only and succeed.
//!
//! One deliberate difference from v1: a v1 deny removes only an exception with the same
//! type/major/minor, so `allow c *:* m` then `deny c 1:3 m` still allows mknod of `c 1:3`
//! there; here the later deny wins (stricter, and what the config says).
//!
//! ## Program
//! `ctx` is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, the low
//! 16 bits of `access_type` being the device type (`BPF_DEVCG_DEV_BLOCK` 1, `_CHAR` 2), the
//! high 16 bits the access (`BPF_DEVCG_ACC_MKNOD` 1, `_READ` 2, `_WRITE` 4). The program
//! keeps ctx in r6; for each access bit it (re)loads type/access/major/minor into r2..r5
//! and, if the bit is in the request, walks the rules naming that bit, last first; the first match jumps to the next
//! bit (allow) or to `return 0` (deny); no match falls to `return 0`. After the last bit:
//! `return 1`. The verifier rejects unreachable code, so nothing is emitted after an
//! unconditional rule and `return 0` only when something jumps to it.

use std::os::fd::AsFd;
use std::path::Path;

use moat_sys::bpf::{self, Insn};
use oci_spec::runtime::LinuxDeviceCgroup;
use rustix::fs::{Mode, OFlags};

use crate::resources::device_rule;
use crate::Error;

/// `BPF_DEVCG_DEV_BLOCK`.
pub const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`.
pub const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`.
pub const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`.
pub const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`.
pub const ACC_WRITE: u32 = 4;

/// License of the generated program (device programs call no GPL-only helper).
const LICENSE: &std::ffi::CStr = c"Apache";

/// One validated rule: `None` is a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// [`DEV_CHAR`], [`DEV_BLOCK`] or `None` for `a` (both).
    pub typ: Option<u32>,
    /// Major number, `None` for `*`.
    pub major: Option<u32>,
    /// Minor number, `None` for `*`.
    pub minor: Option<u32>,
    /// Bits of [`ACC_MKNOD`], [`ACC_READ`], [`ACC_WRITE`].
    pub access: u32,
}

impl Rule {
    /// Validates an OCI rule with the same checks as the v1 writer (type `p` refused,
    /// access only `rwm`, empty access = `rwm`); numbers must fit the instruction's
    /// immediate (real majors/minors are 12/20 bits).
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Rule, Error> {
        let line = device_rule(d)?; // "c 1:3 rwm", "a *:* m"
        let mut it = line.split(' ');
        let (t, nums, acc) = (it.next(), it.next(), it.next());
        let (Some(t), Some((maj, min)), Some(acc)) = (t, nums.and_then(|n| n.split_once(':')), acc)
        else {
            unreachable!("device_rule returns \"t M:m acc\", got {line:?}");
        };
        let num = |s: &str| -> Result<Option<u32>, Error> {
            if s == "*" {
                return Ok(None);
            }
            match s.parse::<u32>() {
                Ok(v) if v <= i32::MAX as u32 => Ok(Some(v)),
                _ => Err(Error::InvalidValue {
                    what: "devices",
                    detail: format!("device number {s} is out of range in {line:?}"),
                }),
            }
        };
        Ok(Rule {
            allow: d.allow(),
            typ: match t {
                "c" => Some(DEV_CHAR),
                "b" => Some(DEV_BLOCK),
                _ => None,
            },
            major: num(maj)?,
            minor: num(min)?,
            access: acc
                .bytes()
                .map(|b| match b {
                    b'm' => ACC_MKNOD,
                    b'r' => ACC_READ,
                    _ => ACC_WRITE,
                })
                .fold(0, |a, b| a | b),
        })
    }

    /// Type, major and minor match (access is checked per bit by the caller).
    pub fn matches_device(&self, typ: u32, major: u32, minor: u32) -> bool {
        self.typ.is_none_or(|t| t == typ)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

/// The reference semantics (see the module doc), used by the tests against the program:
/// is a request of `access` bits on device `typ major:minor` allowed?
pub fn allowed(rules: &[Rule], typ: u32, major: u32, minor: u32, access: u32) -> bool {
    [ACC_MKNOD, ACC_READ, ACC_WRITE]
        .into_iter()
        .filter(|b| access & b != 0)
        .all(|b| {
            rules
                .iter()
                .rev()
                .find(|r| r.access & b != 0 && r.matches_device(typ, major, minor))
                .is_some_and(|r| r.allow)
        })
}

// eBPF opcodes (only what the generator emits).
/// `BPF_LDX | BPF_MEM | BPF_W`.
pub const LDX_W: u8 = 0x61;
/// `BPF_ALU | BPF_AND | BPF_K` (32-bit).
pub const AND32_K: u8 = 0x54;
/// `BPF_ALU | BPF_RSH | BPF_K` (32-bit).
pub const RSH32_K: u8 = 0x74;
/// `BPF_ALU | BPF_MOV | BPF_X` (32-bit).
pub const MOV32_X: u8 = 0xbc;
/// `BPF_ALU64 | BPF_MOV | BPF_X`.
pub const MOV64_X: u8 = 0xbf;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
pub const MOV64_K: u8 = 0xb7;
/// `BPF_JMP | BPF_JA`.
pub const JA: u8 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JEQ_K: u8 = 0x15;
/// `BPF_JMP | BPF_JNE | BPF_K`.
pub const JNE_K: u8 = 0x55;
/// `BPF_JMP | BPF_EXIT`.
pub const EXIT: u8 = 0x95;

/// A jump target while generating.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    /// Instruction index already known.
    At(usize),
    /// The end of access-bit block `i` (= start of block i+1, or the final `return 1`).
    BitDone(usize),
    /// The shared `return 0`.
    Deny,
}

struct Gen {
    insns: Vec<Insn>,
    /// (instruction index, target) to patch.
    fixups: Vec<(usize, Label)>,
}

impl Gen {
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn::new(code, dst, src, off, imm));
    }

    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.op(code, dst, 0, 0, imm);
    }
}

/// Generates the device program for `rules` (in config order). Panics above
/// [`MAX_RULES`] rules ([`program_for`] refuses them first).
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut g = Gen {
        insns: Vec::with_capacity(16 + rules.len() * 12),
        fixups: Vec::new(),
    };
    g.op(MOV64_X, 6, 1, 0, 0); // r6 = ctx
    let mut bit_end = [0usize; 3];
    for (bi, bit) in [ACC_MKNOD, ACC_READ, ACC_WRITE].into_iter().enumerate() {
        // r2 = type, r3 = access, r4 = major, r5 = minor. Reloaded in every block: the
        // paths into a block then differ only in dead registers, so the verifier prunes
        // them (with values learnt from the previous block, its work grows as rules²).
        g.op(LDX_W, 2, 6, 0, 0);
        g.op(AND32_K, 2, 0, 0, 0xffff);
        g.op(LDX_W, 3, 6, 0, 0);
        g.op(RSH32_K, 3, 0, 0, 16);
        g.op(LDX_W, 4, 6, 4, 0);
        g.op(LDX_W, 5, 6, 8, 0);
        // if (!(access & bit)) goto bit_done
        g.op(MOV32_X, 1, 3, 0, 0);
        g.op(AND32_K, 1, 0, 0, bit as i32);
        g.jump(JEQ_K, 1, 0, Label::BitDone(bi));
        let mut decided = false;
        for r in rules.iter().rev().filter(|r| r.access & bit != 0) {
            let mut conds = Vec::new();
            let mut regs = Vec::new();
            for (reg, v) in [(2u8, r.typ), (4, r.major), (5, r.minor)] {
                if let Some(v) = v {
                    conds.push(g.insns.len());
                    regs.push(reg);
                    g.op(JNE_K, reg, 0, 0, v as i32);
                }
            }
            g.jump(
                JA,
                0,
                0,
                if r.allow {
                    Label::BitDone(bi)
                } else {
                    Label::Deny
                },
            );
            let next = g.insns.len();
            for c in &conds {
                g.fixups.push((*c, Label::At(next)));
            }
            // A path that passed a comparison and failed a later one carries the value it
            // matched (e.g. r4 = 1750) into every following rule; forget it, or the
            // verifier walks the rest of the chain once per such rule (rules² work).
            for &reg in regs.iter().rev().skip(1) {
                g.op(LDX_W, reg, 6, if reg == 2 { 0 } else { 4 }, 0);
                if reg == 2 {
                    g.op(AND32_K, 2, 0, 0, 0xffff);
                }
            }
            if conds.is_empty() {
                decided = true; // everything below is unreachable
                break;
            }
        }
        if !decided {
            g.jump(JA, 0, 0, Label::Deny);
        }
        bit_end[bi] = g.insns.len();
    }
    g.op(MOV64_K, 0, 0, 0, 1);
    g.op(EXIT, 0, 0, 0, 0);
    let deny_used = g.fixups.iter().any(|(_, l)| *l == Label::Deny);
    let deny_at = g.insns.len();
    if deny_used {
        g.op(MOV64_K, 0, 0, 0, 0);
        g.op(EXIT, 0, 0, 0, 0);
    }
    for (at, l) in std::mem::take(&mut g.fixups) {
        let to = match l {
            Label::At(i) => i,
            Label::BitDone(b) => bit_end[b],
            Label::Deny => deny_at,
        };
        let off = to as i64 - at as i64 - 1;
        g.insns[at].off = i16::try_from(off).expect("device program jump fits in 16 bits");
    }
    g.insns
}

/// Most rules [`program_for`] takes: every jump must fit the 16-bit offset (a rule is at
/// most 7 instructions per access-bit block, 3 blocks) and the verifier must accept it
/// (checked on the real kernel by tests/real_v2_devices.rs).
pub const MAX_RULES: usize = 1000;

/// Validates every rule (before any syscall) and builds the program.
pub fn program_for(devices: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, Error> {
    if devices.len() > MAX_RULES {
        return Err(Error::InvalidValue {
            what: "devices",
            detail: format!("{} rules (at most {MAX_RULES})", devices.len()),
        });
    }
    let rules = devices
        .iter()
        .map(Rule::from_oci)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(program(&rules))
}

/// Loads the program for `devices` and attaches it to the cgroup `dir`, replacing the
/// device programs this cgroup had (attach first, then detach the old ones, as runc).
pub(crate) fn apply(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<(), Error> {
    let insns = program_for(devices)?;
    let prog = bpf::load_cgroup_device_prog(&insns, LICENSE)
        .map_err(|e| Error::io("load device eBPF program for", dir, e))?;
    let fd = rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", dir, e.into()))?;
    bpf::replace_cgroup_device_prog(fd.as_fd(), prog.as_fd())
        .map_err(|e| Error::io("attach device eBPF program to", dir, e))
}

#[cfg(test)]
mod tests;
