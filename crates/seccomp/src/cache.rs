//! Content-addressed cache of compiled programs.
//!
//! Key: SHA-256 over a version line (cache format, moat version, libseccomp
//! version, target arch) and the canonical JSON of the profile (object keys
//! sorted, no whitespace). File: `<cache_dir>/<hex key>.bpf`:
//!
//! ```text
//! 0   8  magic  "MOATBPF\x01"
//! 8   32 key (must equal the file name's)
//! 40  4  flags (u32 LE)        44  4  bits: 1 = uses NOTIFY (u32 LE)
//! 48  4  BPF length (u32 LE)   52  4  listener path length (u32 LE)
//! 56  .. listener path bytes, then the BPF bytes
//! end-32 SHA-256 of everything before it
//! ```
//! Anything that does not parse or check is treated as a miss and rewritten.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::{compile, Error, Program};

const MAGIC: &[u8; 8] = b"MOATBPF\x01";
const HEADER: usize = 56;
const TRAILER: usize = 32;
const NOTIFY_BIT: u32 = 1;

/// Compile `s`, or read the result of an earlier compile from `cache_dir`.
///
/// A hit reads one file and checks it (no libseccomp work); a miss (no file,
/// or a short, corrupt or foreign one) compiles and writes the entry
/// atomically (temporary file + rename). `cache_dir` is created (mode 0700)
/// if missing and must be owned by us and writable by nobody else, since a
/// planted entry would become a container's filter. Failing to *write* an
/// entry is not an error: the compiled program is returned all the same.
pub fn compile_cached(s: &LinuxSeccomp, cache_dir: &Path) -> Result<Program, Error> {
    let key = cache_key(s)?;
    check_dir(cache_dir)?;
    let path = cache_dir.join(format!("{}.bpf", hex(&key)));
    // Any entry that cannot be read or does not check (missing, short,
    // corrupt, another key, a directory in its place) is a miss.
    if let Some(p) = std::fs::read(&path).ok().and_then(|b| decode(&b, &key)) {
        return Ok(p);
    }
    let program = compile(s)?;
    // Best effort: a read-only or full cache must not fail a container start.
    let _ = write_atomically(cache_dir, &path, &encode(&program, &key));
    Ok(program)
}

/// The cache key of `s`: SHA-256 of the cache format, moat's and
/// libseccomp's versions, the target architecture and the canonical JSON of
/// the profile. Exposed for tests and for tools that prune the cache.
pub fn cache_key(s: &LinuxSeccomp) -> Result<[u8; 32], Error> {
    let value = serde_json::to_value(s).map_err(|e| Error::InvalidProfile {
        field: "seccomp",
        reason: format!("cannot serialise the profile: {e}"),
    })?;
    let mut json = Vec::with_capacity(4096);
    canonical_json(&value, &mut json);
    let mut h = Sha256::new();
    h.update(version_line().as_bytes());
    h.update(&json);
    Ok(h.finalize().into())
}

fn version_line() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| {
        let lib = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_else(|_| "unknown".into());
        format!(
            "moat-seccomp-cache v2\nmoat {}\nlibseccomp {}\narch {}\n",
            env!("CARGO_PKG_VERSION"),
            lib,
            std::env::consts::ARCH
        )
    })
}

/// JSON with object keys sorted and no whitespace, so the key does not depend
/// on field order or on serde_json's `preserve_order` feature.
fn canonical_json(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serialising a string or a scalar into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                canonical_json(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn check_dir(dir: &Path) -> Result<(), Error> {
    let io = |step, source| Error::Io {
        step,
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io("creating cache dir", e))?;
        }
        Err(e) => return Err(io("inspecting cache dir", e)),
        Ok(_) => {}
    }
    let md = std::fs::symlink_metadata(dir).map_err(|e| io("inspecting cache dir", e))?;
    let insecure = |reason: String| {
        Err(Error::InsecureCacheDir {
            path: dir.to_path_buf(),
            reason,
        })
    };
    if !md.is_dir() {
        return insecure("not a directory (symlinks are not followed)".into());
    }
    let euid = rustix::process::geteuid().as_raw();
    if md.uid() != euid {
        return insecure(format!("owned by uid {}, not by us ({euid})", md.uid()));
    }
    if md.mode() & 0o022 != 0 {
        return insecure(format!(
            "mode {:o} is group- or world-writable",
            md.mode() & 0o7777
        ));
    }
    Ok(())
}

fn encode(p: &Program, key: &[u8; 32]) -> Vec<u8> {
    let listener = p
        .listener_path
        .as_ref()
        .map(|l| l.as_os_str().as_bytes())
        .unwrap_or(&[]);
    let mut out = Vec::with_capacity(HEADER + listener.len() + p.bpf.len() + TRAILER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key);
    out.extend_from_slice(&p.flags.to_le_bytes());
    let bits = if p.uses_notify { NOTIFY_BIT } else { 0 };
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(&(p.bpf.len() as u32).to_le_bytes());
    out.extend_from_slice(&(listener.len() as u32).to_le_bytes());
    out.extend_from_slice(listener);
    out.extend_from_slice(&p.bpf);
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

fn decode(bytes: &[u8], key: &[u8; 32]) -> Option<Program> {
    if bytes.len() < HEADER + TRAILER {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - TRAILER);
    if &body[..8] != MAGIC || &body[8..40] != key {
        return None;
    }
    let u32_at = |off: usize| u32::from_le_bytes(body[off..off + 4].try_into().unwrap());
    let flags = u32_at(40);
    let bits = u32_at(44);
    let bpf_len = u32_at(48) as usize;
    let listener_len = u32_at(52) as usize;
    if HEADER.checked_add(listener_len)?.checked_add(bpf_len)? != body.len()
        || bpf_len == 0
        || bpf_len % moat_sys::seccomp::INSN_SIZE != 0
        || bits & !NOTIFY_BIT != 0
        || flags & !moat_sys::seccomp::KNOWN_FLAGS != 0
    {
        return None;
    }
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let listener = &body[HEADER..HEADER + listener_len];
    Some(Program {
        bpf: body[HEADER + listener_len..].to_vec(),
        flags,
        uses_notify: bits & NOTIFY_BIT != 0,
        listener_path: (!listener.is_empty())
            .then(|| PathBuf::from(OsString::from_vec(listener.to_vec()))),
    })
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id(),
        nanos
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            // create_new is O_CREAT|O_EXCL: never follows a planted symlink.
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        Program {
            bpf: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
            flags: crate::FLAG_LOG | crate::FLAG_NEW_LISTENER,
            uses_notify: true,
            listener_path: Some("/run/agent.sock".into()),
        }
    }

    #[test]
    fn encode_decode_roundtrip() {
        let key = [7u8; 32];
        let bytes = encode(&program(), &key);
        assert_eq!(decode(&bytes, &key), Some(program()));
        let mut p = program();
        p.listener_path = None;
        p.uses_notify = false;
        assert_eq!(decode(&encode(&p, &key), &key), Some(p));
    }

    #[test]
    fn decode_rejects_damage() {
        let key = [7u8; 32];
        let bytes = encode(&program(), &key);
        // Every truncation.
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n], &key), None, "truncated to {n}");
        }
        // Every single flipped bit.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert_eq!(decode(&b, &key), None, "byte {i} bit {bit}");
            }
        }
        // Another key's entry.
        assert_eq!(decode(&bytes, &[8u8; 32]), None);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,"x"],"c":null}}"#).unwrap();
        let mut out = Vec::new();
        canonical_json(&a, &mut out);
        assert_eq!(out, br#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#);
    }

    /// A hit is served from the file alone: plant an entry that compiling
    /// could never produce and check it comes back unchanged.
    #[test]
    fn hit_reads_the_file_without_compiling() {
        let dir = std::env::temp_dir().join(format!("moat-seccomp-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let key = cache_key(&s).unwrap();
        check_dir(&dir).unwrap();
        let planted = program();
        let path = dir.join(format!("{}.bpf", hex(&key)));
        write_atomically(&dir, &path, &encode(&planted, &key)).unwrap();
        assert_eq!(compile_cached(&s, &dir).unwrap(), planted);
        assert_ne!(compile(&s).unwrap(), planted);
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
