//! OCI hooks: run with the container state on stdin, an optional timeout,
//! and a clear error naming the hook that failed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

/// Run `hooks` in order; stop at the first failure.
pub fn run(kind: &str, hooks: &[Hook], state_json: &str) -> Result<(), String> {
    for h in hooks {
        run_one(kind, h, state_json)?;
    }
    Ok(())
}

fn run_one(kind: &str, h: &Hook, state_json: &str) -> Result<(), String> {
    let path = h.path();
    let args = h.args().as_deref().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some(a0) = args.first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(a0);
        cmd.args(&args[1..]);
    }
    cmd.env_clear();
    for e in h.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{kind} hook {}: start: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: ignore EPIPE.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => return Err(format!("{kind} hook {}: wait: {e}", path.display())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{kind} hook {}: timed out after {}s",
                path.display(),
                h.timeout().unwrap_or(0)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!(
            "{kind} hook {}: {status}{}{}",
            path.display(),
            if err.is_empty() { "" } else { ", stderr: " },
            err.trim()
        ));
    }
    Ok(())
}

/// The state document hooks receive (runtime-spec "State").
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> String {
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
    });
    if let Some(a) = annotations {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin() {
        let dir = std::env::temp_dir().join(format!("moat-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {}"]}}"#,
            out.display()
        ));
        run("prestart", &[h], r#"{"id":"x"}"#).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), r#"{"id":"x"}"#);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failing_hook_is_named() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo boom >&2; exit 3"]}"#);
        let e = run("poststop", &[h], "{}").unwrap_err();
        assert!(
            e.contains("poststop hook /bin/sh") && e.contains("boom"),
            "{e}"
        );
    }

    #[test]
    fn hook_timeout_kills() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","sleep 30"],"timeout":1}"#);
        let e = run("prestart", &[h], "{}").unwrap_err();
        assert!(e.contains("timed out"), "{e}");
    }
}
