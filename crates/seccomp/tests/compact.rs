//! The compact compiler against libseccomp: both programs run in a classic
//! BPF interpreter over every architecture token, a wide spread of syscall
//! numbers and, wherever either program looks at the arguments, a spread of
//! argument values; every return value must be the same.

use moat_seccomp::{compile, compile_compact, compile_libseccomp, Program};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const X32_BIT: u32 = 0x4000_0000;

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

/// `struct seccomp_data` as the filter sees it.
#[derive(Clone, Copy, Debug)]
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

/// One decoded `struct sock_filter`.
#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn decode(p: &Program) -> Vec<Insn> {
    p.as_bytes()
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// What one run of a program did.
struct Outcome {
    ret: u32,
    /// Whether it loaded an argument word.
    touched_args: bool,
    /// Instructions executed.
    steps: usize,
}

/// A classic BPF interpreter for seccomp programs. Panics on an opcode it
/// does not know, an out-of-range load or running off the end.
fn run(prog: &[Insn], d: &Data) -> Outcome {
    let mut touched_args = false;
    let mut word = |off: u32| -> u32 {
        assert!(off % 4 == 0, "unaligned load at offset {off}");
        match off {
            0 => d.nr,
            4 => d.arch,
            8 => 0x1234_5678, // instruction pointer, low
            12 => 0x7fff_0000,
            16..=60 => {
                touched_args = true;
                let a = d.args[((off - 16) / 8) as usize];
                if off % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load beyond seccomp_data at offset {off}"),
        }
    };
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        let i = *prog
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end of the program at {pc}"));
        pc += 1;
        let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
        match i.code {
            0x20 => a = word(i.k),            // ld [k]
            0x00 => a = i.k,                  // ld #k
            0x01 => x = i.k,                  // ldx #k
            0x60 => a = mem[i.k as usize],    // ld M[k]
            0x61 => x = mem[i.k as usize],    // ldx M[k]
            0x02 => mem[i.k as usize] = a,    // st M[k]
            0x03 => mem[i.k as usize] = x,    // stx M[k]
            0x54 => a &= i.k,                 // and #k
            0x44 => a |= i.k,                 // or #k
            0x07 => x = a,                    // tax
            0x87 => a = x,                    // txa
            0x05 => pc += i.k as usize,       // ja
            0x15 => pc += cond(a == i.k),     // jeq #k
            0x25 => pc += cond(a > i.k),      // jgt #k
            0x35 => pc += cond(a >= i.k),     // jge #k
            0x45 => pc += cond(a & i.k != 0), // jset #k
            0x06 => {
                return Outcome {
                    ret: i.k,
                    touched_args,
                    steps,
                }
            } // ret #k
            0x16 => {
                return Outcome {
                    ret: a,
                    touched_args,
                    steps,
                }
            } // ret a
            c => panic!("unknown opcode {c:#06x} at {}", pc - 1),
        }
    }
}

/// Syscall numbers to try: everything up to 1100, the same with the x32 bit,
/// and values around the edges of the number space.
fn numbers() -> Vec<u32> {
    let mut v: Vec<u32> = (0..=1100).collect();
    v.extend((0..=1100).map(|n| X32_BIT + n));
    v.extend([
        0x3fff_ffff,
        0x4000_1000,
        0x7fff_ffff,
        0x8000_0000,
        0xbfff_ffff,
        0xc000_0000,
        0xc000_0000 + 59,
        0xffff_0000,
        0xffff_fffe,
        0xffff_ffff,
    ]);
    v
}

/// Argument values: the interesting constants of the profiles, each bit on
/// its own, high-half variants, and the profile's own values and masks.
fn arg_values(s: &LinuxSeccomp) -> Vec<u64> {
    let mut v: Vec<u64> = vec![
        0,
        1,
        2,
        8,
        40,
        41,
        0x20000,
        0x20008,
        0x7e02_0000,
        0x8000_0000,
        0xffff_fffe,
        0xffff_ffff,
        0xffff_ffff_0000_0000,
        u64::MAX,
    ];
    v.extend((0..64).map(|b| 1u64 << b));
    for a in s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.args().clone().unwrap_or_default())
    {
        for base in [a.value(), a.value_two().unwrap_or(0)] {
            v.extend([
                base,
                base ^ 1,
                base.wrapping_add(1),
                base | 1 << 32,
                base | 1 << 63,
            ]);
            v.extend(
                (0..64)
                    .filter(|b| base >> b & 1 == 1)
                    .map(|b| base & !(1 << b)),
            );
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Argument vectors: each value in each position (others 0), all positions
/// at once, and some pseudo-random ones.
fn arg_vectors(values: &[u64]) -> Vec<[u64; 6]> {
    let mut out = Vec::new();
    for &val in values {
        for i in 0..6 {
            let mut a = [0u64; 6];
            a[i] = val;
            out.push(a);
        }
        out.push([val; 6]);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..200 {
        let mut a = [0u64; 6];
        for x in &mut a {
            // Mix random words with the profile's values.
            *x = match next() % 3 {
                0 => next(),
                1 => values[(next() % values.len() as u64) as usize],
                _ => next() & 0xffff_ffff,
            };
        }
        out.push(a);
    }
    out
}

/// Run both programs over every input; panic listing the first differences.
/// Returns (libseccomp's, the compact program's) instruction counts.
fn assert_equivalent(name: &str, s: &LinuxSeccomp) -> (usize, usize) {
    let lib = compile_libseccomp(s).unwrap_or_else(|e| panic!("{name}: libseccomp: {e}"));
    let compact = compile_compact(s).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(compact.flags(), lib.flags(), "{name}: flags");
    assert_eq!(compact.uses_notify(), lib.uses_notify(), "{name}: notify");
    assert_eq!(
        compact.listener_path(),
        lib.listener_path(),
        "{name}: listener"
    );
    assert_eq!(
        compile(s).unwrap(),
        compact,
        "{name}: compile() uses the compact program"
    );

    let (lp, cp) = (decode(&lib), decode(&compact));
    let vectors = arg_vectors(&arg_values(s));
    let mut diffs = Vec::new();
    let mut checked = 0usize;
    // Instructions run for the x86_64 syscalls 0..=450: (max, sum) for
    // libseccomp's and the compact program.
    let (mut l_steps, mut c_steps) = ((0, 0), (0, 0));
    for arch in [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        AUDIT_ARCH_AARCH64,
        0,
        u32::MAX,
    ] {
        for nr in numbers() {
            let zero = Data {
                nr,
                arch,
                args: [0; 6],
            };
            let (l, c) = (run(&lp, &zero), run(&cp, &zero));
            checked += 1;
            if l.ret != c.ret {
                diffs.push(format!(
                    "{zero:x?}: libseccomp {:#x}, compact {:#x}",
                    l.ret, c.ret
                ));
            }
            if arch == AUDIT_ARCH_X86_64 && nr <= 450 {
                l_steps = (l_steps.0.max(l.steps), l_steps.1 + l.steps);
                c_steps = (c_steps.0.max(c.steps), c_steps.1 + c.steps);
            }
            // A program that did not look at the arguments takes the same
            // path whatever they are.
            if !(l.touched_args || c.touched_args) {
                continue;
            }
            for args in &vectors {
                let d = Data {
                    args: *args,
                    ..zero
                };
                let (l, c) = (run(&lp, &d).ret, run(&cp, &d).ret);
                checked += 1;
                if l != c {
                    diffs.push(format!("{d:x?}: libseccomp {l:#x}, compact {c:#x}"));
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: {} of {checked} inputs decided differently, first ones:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(20)].join("\n")
    );
    eprintln!(
        "{name}: {checked} inputs agree; libseccomp {} instructions, compact {}; \
         run per x86_64 syscall 0..=450: libseccomp max {} mean {:.1}, compact max {} mean {:.1}",
        lib.instructions(),
        compact.instructions(),
        l_steps.0,
        l_steps.1 as f64 / 451.0,
        c_steps.0,
        c_steps.1 as f64 / 451.0,
    );
    (lib.instructions(), compact.instructions())
}

#[test]
fn default_profile_is_equivalent_and_small() {
    let (lib, compact) =
        assert_equivalent("moat default profile", &moat_spec::floor::default_profile());
    assert!(
        compact < 400,
        "compact default profile has {compact} instructions"
    );
    assert!(compact * 3 < lib, "{compact} vs libseccomp's {lib}");
}

/// The default profile's rules under other defaults and architecture sets:
/// KILL_PROCESS, no x32 (x86_64 numbers with the x32 bit are a bad arch),
/// native only.
#[test]
fn default_profile_variants_are_equivalent() {
    let base = serde_json::to_value(moat_spec::floor::default_profile()).unwrap();
    let variants = [
        (
            "KILL_PROCESS, x86_64+x86",
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]}),
        ),
        (
            "TRAP, native only",
            json!({"defaultAction": "SCMP_ACT_TRAP", "architectures": null}),
        ),
        (
            "ERRNO 38, x32 only",
            json!({"defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X32"]}),
        ),
        (
            "KILL, x86 only",
            json!({"defaultAction": "SCMP_ACT_KILL", "architectures": ["SCMP_ARCH_X86"]}),
        ),
        (
            "LOG, flags",
            json!({"defaultAction": "SCMP_ACT_LOG",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"]}),
        ),
    ];
    for (name, patch) in variants {
        let mut v = base.clone();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        assert_equivalent(name, &profile(v));
    }
}

/// A deny-list like the one moat merges into a config's own profile, with
/// every kind of action.
#[test]
fn deny_list_profiles_are_equivalent() {
    let others = [
        "kexec_file_load",
        "acct",
        "swapon",
        "swapoff",
        "getcwd",
        "personality",
        "clone",
        "clone3",
    ];
    let denied: Vec<&str> = moat_spec::floor::DENIED_SYSCALLS
        .iter()
        .copied()
        .filter(|n| !others.contains(n))
        .collect();
    let rules = json!([
        {"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["kexec_file_load", "moat_not_a_syscall"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["acct"], "action": "SCMP_ACT_LOG"},
        {"names": ["swapon"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["swapoff"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0x7e02_0000u64, "valueTwo": 0x1000_0000u64,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
    ]);
    for archs in [
        json!(null),
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]),
        json!(["SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ] {
        let s = profile(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": archs,
            "syscalls": rules}),
        );
        assert_equivalent(&format!("deny-list, architectures {archs}"), &s);
    }
}

/// Argument checks: ORed conditions on one argument within a rule and
/// across rules, on arguments other than the first, every operator
/// supported, full 32-bit masks.
#[test]
fn argument_checks_are_equivalent() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["read", "write", "exit_group", "socketcall"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]},
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 0x5401, "op": "SCMP_CMP_NE"}]},
        {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 1, "value": 0xffff_ffffu64, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mmap"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": 4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                  {"index": 2, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 5, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
    ]}));
    assert_equivalent("argument checks", &s);
}

/// Jumps longer than 255 instructions need trampolines: a profile where the
/// allowed numbers alternate makes a search tree of ~900 instructions.
#[test]
fn long_programs_are_equivalent() {
    let names: Vec<String> = (0..450)
        .step_by(2)
        .filter_map(|nr| libseccomp::ScmpSyscall::from(nr).get_name().ok())
        .filter(|n| n != "clone")
        .collect();
    let s = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"},
                     {"names": ["socketcall", "ipc"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 0x7e02_0000u64, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    assert_equivalent("alternating allow-list", &s);
    // The x86_64 group alone is longer than 255 instructions: some jumps
    // needed a trampoline (`ja`; the search emits none of its own here).
    let p = compile_compact(&s).unwrap();
    let trampolines = decode(&p).iter().filter(|i| i.code == 0x05).count();
    assert!(
        trampolines > 0,
        "no trampoline in {} instructions",
        p.instructions()
    );
    eprintln!("alternating allow-list: {trampolines} trampolines");
}

/// Profiles outside what the compact compiler replicates are left to
/// libseccomp.
#[test]
fn unsupported_profiles_fall_back_to_libseccomp() {
    let cases = [
        (
            "LT",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_LT"}]}]}),
        ),
        (
            "AND",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                                                {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]}),
        ),
        (
            "64-bit value",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1u64 << 32, "op": "SCMP_CMP_EQ"}]}]}),
        ),
        (
            "aarch64",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}),
        ),
        (
            "NOTIFY",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]}),
        ),
        (
            "mixed actions on one syscall",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getcwd"], "action": "SCMP_ACT_KILL"}]}),
        ),
        (
            "conditional and unconditional",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]}),
        ),
        (
            "i386 socket without socketcall",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO"}]}),
        ),
        (
            "errno out of range",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
        ),
        // libseccomp refuses SCMP_ACT_ERRNO data >= MAX_ERRNO (4095): the
        // profile must fail to compile, not run with the kernel's cap.
        (
            "rule errno 4095",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]}),
        ),
        (
            "default errno 65535",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65535,
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"}]}),
        ),
    ];
    for (name, v) in cases {
        let s = profile(v);
        match compile_compact(&s) {
            Ok(_) => panic!("{name}: the compact compiler accepted it"),
            Err(e) => eprintln!("{name}: {e}"),
        }
        match (compile(&s), compile_libseccomp(&s)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}: compile() is libseccomp's"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
            (a, b) => panic!("{name}: compile() {a:?}, libseccomp {b:?}"),
        }
    }
}

/// i386's socketcall/ipc multiplexers with a rule of their own matching the
/// multiplexed calls' action: supported.
#[test]
fn i386_multiplexers_are_equivalent() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [
        {"names": ["socket", "socketcall", "accept", "recvmmsg", "semop", "semget", "ipc",
                   "shmat", "msgrcv"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 2, "value": 16, "op": "SCMP_CMP_EQ"}]},
    ]}));
    assert_equivalent("i386 multiplexers", &s);
}
