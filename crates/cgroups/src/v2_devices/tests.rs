//! Layer 1: the generated program, run by a small interpreter of the eBPF subset it uses,
//! against the reference semantics ([`allowed`]) and against hand-written expectations.

use super::*;

/// Runs `prog` on a `bpf_cgroup_dev_ctx`; panics on anything outside the emitted subset,
/// on a jump out of the program, on a read of an unset register, or on a backward jump.
fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
    const CTX: u64 = 0xc7c7_0000;
    let ctx = [(access << 16) | typ, major, minor];
    let mut r: [Option<u64>; 11] = [None; 11];
    r[1] = Some(CTX);
    let mut pc = 0usize;
    let get = |r: &[Option<u64>; 11], i: u8| r[i as usize].unwrap_or_else(|| panic!("r{i} unset"));
    loop {
        let i = *prog.get(pc).expect("pc inside the program");
        let (d, s) = (i.dst(), i.src());
        let mut next = pc + 1;
        let jump = |pc: usize, off: i16| {
            assert!(off >= 0, "backward jump at {pc}");
            pc + 1 + off as usize
        };
        match i.code {
            LDX_W => {
                let base = get(&r, s);
                assert_eq!(base, CTX, "load from the ctx only");
                assert!(
                    i.off >= 0 && i.off % 4 == 0 && i.off < 12,
                    "ctx offset {}",
                    i.off
                );
                r[d as usize] = Some(u64::from(ctx[i.off as usize / 4]));
            }
            AND32_K => r[d as usize] = Some(u64::from(get(&r, d) as u32 & i.imm as u32)),
            RSH32_K => r[d as usize] = Some(u64::from((get(&r, d) as u32) >> i.imm)),
            MOV32_X => r[d as usize] = Some(u64::from(get(&r, s) as u32)),
            MOV64_X => r[d as usize] = Some(get(&r, s)),
            MOV64_K => r[d as usize] = Some(i.imm as i64 as u64),
            JA => next = jump(pc, i.off),
            JEQ_K => {
                if get(&r, d) == i.imm as i64 as u64 {
                    next = jump(pc, i.off)
                }
            }
            JNE_K => {
                if get(&r, d) != i.imm as i64 as u64 {
                    next = jump(pc, i.off)
                }
            }
            EXIT => return get(&r, 0),
            c => panic!("opcode {c:#x} at {pc} not in the subset"),
        }
        pc = next;
    }
}

/// Every instruction is reachable (the verifier's "unreachable insn" check) and every
/// jump lands inside the program.
fn check_cfg(prog: &[Insn]) {
    let mut seen = vec![false; prog.len()];
    let mut todo = vec![0usize];
    while let Some(pc) = todo.pop() {
        assert!(pc < prog.len(), "jump out of the program");
        if std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        let i = prog[pc];
        match i.code {
            EXIT => {}
            JA => todo.push(pc + 1 + i.off as usize),
            JEQ_K | JNE_K => {
                todo.push(pc + 1);
                todo.push(pc + 1 + i.off as usize);
            }
            _ => todo.push(pc + 1),
        }
    }
    if let Some(pc) = seen.iter().position(|s| !s) {
        panic!("unreachable instruction {pc} in {prog:?}");
    }
}

fn rules(json: &str) -> Vec<Rule> {
    let d: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
    d.iter().map(|d| Rule::from_oci(d).unwrap()).collect()
}

/// Checks the program against the reference on every (type, major, minor, access) in
/// the domain of interest.
fn agree(rs: &[Rule], majors: &[u32], minors: &[u32]) {
    let prog = program(rs);
    check_cfg(&prog);
    for typ in [DEV_BLOCK, DEV_CHAR] {
        for &maj in majors {
            for &min in minors {
                for acc in 1..8 {
                    let want = allowed(rs, typ, maj, min, acc);
                    let got = run(&prog, typ, acc, maj, min);
                    assert_eq!(
                        got,
                        u64::from(want),
                        "type {typ} {maj}:{min} access {acc:03b} rules {rs:?}"
                    );
                }
            }
        }
    }
}

/// runc 1.1's AllowedDevices (what moat appends to every config).
const DEFAULTS: &str = r#"[
 {"allow": true, "type": "c", "access": "m"},
 {"allow": true, "type": "b", "access": "m"},
 {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
 {"allow": true, "type": "c", "major": 136, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
 {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
]"#;

const R: u32 = ACC_READ;
const W: u32 = ACC_WRITE;
const M: u32 = ACC_MKNOD;

#[test]
fn runc_default_config() {
    // runc spec: deny all, then the defaults.
    let mut rs = rules(r#"[{"allow": false, "access": "rwm"}]"#);
    rs.extend(rules(DEFAULTS));
    let p = program(&rs);
    check_cfg(&p);
    let ok = |t, a, ma, mi| run(&p, t, a, ma, mi) == 1;
    assert!(ok(DEV_CHAR, R | W, 1, 3)); // /dev/null
    assert!(ok(DEV_CHAR, R, 1, 5)); // /dev/zero
    assert!(ok(DEV_CHAR, R | W, 136, 42)); // a pty
    assert!(ok(DEV_CHAR, M, 8, 0)); // mknod any char
    assert!(ok(DEV_BLOCK, M, 8, 0)); // mknod any block
    assert!(!ok(DEV_BLOCK, R, 8, 0)); // but not read a disk
    assert!(!ok(DEV_CHAR, R, 1, 1)); // /dev/mem
    assert!(!ok(DEV_CHAR, W, 10, 229)); // /dev/fuse
    assert!(!ok(DEV_CHAR, R | M, 1, 1));
    agree(
        &rs,
        &[0, 1, 5, 8, 10, 136, 200],
        &[0, 1, 2, 3, 5, 7, 8, 9, 200],
    );
}

#[test]
fn last_match_wins() {
    // A config deny followed by the defaults: the later default allow wins (runc appends
    // the defaults after the config's rules, so it behaves the same).
    let mut rs = rules(
        r#"[{"allow": false, "access": "rwm"},
        {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]"#,
    );
    rs.extend(rules(DEFAULTS));
    let p = program(&rs);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 1);
    // Deny after the allows: denied.
    let mut rs = rules(r#"[{"allow": false, "access": "rwm"}]"#);
    rs.extend(rules(DEFAULTS));
    rs.extend(rules(
        r#"[{"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]"#,
    ));
    let p = program(&rs);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
    // Allow-all first: default allow; later denies punch holes.
    let rs = rules(
        r#"[{"allow": true, "access": "rwm"},
            {"allow": false, "type": "b", "major": 8, "access": "rw"}]"#,
    );
    let p = program(&rs);
    check_cfg(&p);
    assert_eq!(run(&p, DEV_BLOCK, R, 8, 1), 0);
    assert_eq!(run(&p, DEV_BLOCK, M, 8, 1), 1);
    assert_eq!(run(&p, DEV_BLOCK, R, 9, 1), 1);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 1), 1);
    // A later allow-all overrides everything before it.
    let rs = rules(r#"[{"allow": false, "access": "rwm"}, {"allow": true}]"#);
    assert_eq!(run(&program(&rs), DEV_BLOCK, R | W | M, 8, 0), 1);
    // A later deny-all too.
    let rs = rules(r#"[{"allow": true}, {"allow": false}]"#);
    let p = program(&rs);
    check_cfg(&p);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
}

#[test]
fn access_is_per_bit() {
    // allow rwm, then deny w: an O_RDWR open (r|w) must fail, O_RDONLY works.
    let rs = rules(
        r#"[{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]"#,
    );
    let p = program(&rs);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 0);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
    assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0);
    // An allow of r alone does not allow rw.
    let rs = rules(r#"[{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}]"#);
    let p = program(&rs);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 0);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
    // Bits from different rules combine.
    let rs = rules(
        r#"[{"allow": true, "type": "c", "major": 1, "access": "r"},
            {"allow": true, "type": "a", "minor": 3, "access": "w"}]"#,
    );
    let p = program(&rs);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 4), 0);
    assert_eq!(run(&p, DEV_BLOCK, W, 7, 3), 1);
}

#[test]
fn edge_programs() {
    // No rules: deny everything; still a valid (all reachable) program.
    let p = program(&[]);
    check_cfg(&p);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
    // Only allow-all: no deny block at all.
    let p = program(&rules(r#"[{"allow": true}]"#));
    check_cfg(&p);
    assert!(!p.windows(2).any(|w| w[0].code == MOV64_K && w[0].imm == 0));
    assert_eq!(run(&p, DEV_BLOCK, R | W | M, 8, 0), 1);
    // Rules after an unconditional one are not emitted (they would be unreachable).
    let p = program(&rules(
        r#"[{"allow": true, "type": "c", "major": 4}, {"allow": false}]"#,
    ));
    check_cfg(&p);
    assert_eq!(run(&p, DEV_CHAR, R, 4, 1), 0);
}

#[test]
fn longest_jumps_fit() {
    let n = MAX_RULES as u32;
    let rs: Vec<Rule> = (0..n)
        .map(|i| Rule {
            allow: i % 2 == 1,
            typ: Some(DEV_CHAR),
            major: Some(i),
            minor: Some(i),
            access: 7,
        })
        .collect();
    let p = program(&rs);
    check_cfg(&p);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 1), 1);
    assert_eq!(run(&p, DEV_CHAR, R | W, 2, 2), 0);
    let many: Vec<LinuxDeviceCgroup> = vec![LinuxDeviceCgroup::default(); MAX_RULES + 1];
    assert!(program_for(&many)
        .unwrap_err()
        .to_string()
        .contains("at most"));
}

#[test]
fn validation() {
    let bad = |j: &str| {
        let d: LinuxDeviceCgroup = serde_json::from_str(j).unwrap();
        Rule::from_oci(&d).unwrap_err()
    };
    assert!(bad(r#"{"allow": true, "type": "p"}"#)
        .to_string()
        .contains("fifo"));
    assert!(bad(r#"{"allow": true, "access": "rwx"}"#)
        .to_string()
        .contains("access"));
    assert!(bad(r#"{"allow": true, "major": 4294967296}"#)
        .to_string()
        .contains("range"));
    assert!(bad(r#"{"allow": true, "minor": 2147483648}"#)
        .to_string()
        .contains("range"));
    let r = rules(r#"[{"allow": true, "type": "u", "major": -1, "minor": 3, "access": ""}]"#);
    assert_eq!(
        r[0],
        Rule {
            allow: true,
            typ: Some(DEV_CHAR),
            major: None,
            minor: Some(3),
            access: 7
        }
    );
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn random_rule_lists_agree_with_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let majors = [0u32, 1, 5, 136];
    let minors = [0u32, 3, 5, 9];
    for _ in 0..3000 {
        let n = rng.next() % 9;
        let rs: Vec<Rule> = (0..n)
            .map(|_| Rule {
                allow: rng.next() % 2 == 0,
                typ: rng.pick(&[None, Some(DEV_CHAR), Some(DEV_BLOCK)]),
                major: rng.pick(&[None, Some(1), Some(5), Some(136)]),
                minor: rng.pick(&[None, Some(3), Some(5), Some(9)]),
                access: 1 + (rng.next() % 7) as u32,
            })
            .collect();
        agree(&rs, &majors, &minors);
    }
}
