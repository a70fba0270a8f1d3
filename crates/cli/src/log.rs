//! runc-compatible logging: `--log FILE --log-format text|json`. containerd
//! reads the last `error` line of the log file for the root cause.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

pub struct Logger {
    file: Option<File>,
    json: bool,
}

fn now() -> String {
    let t = moat_container::state::now_rfc3339();
    // runc logs whole seconds: 2006-01-02T15:04:05Z
    format!("{}Z", &t[..19])
}

impl Logger {
    pub fn new(path: Option<&Path>, format: &str, _debug: bool) -> anyhow::Result<Logger> {
        let file = match path {
            Some(p) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("open log file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(Logger {
            file,
            json: format == "json",
        })
    }

    fn line(&self, level: &str, msg: &str) -> String {
        if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": now()}).to_string()
        } else {
            format!("time=\"{}\" level={level} msg={}", now(), quote(msg))
        }
    }

    /// Log an error: to the log file when there is one (and the bare message
    /// on stderr, as runc does), else as a text log line on stderr.
    pub fn error(&self, msg: &str) {
        let mut stderr = std::io::stderr().lock();
        match &self.file {
            Some(f) => {
                let mut f = f;
                let _ = writeln!(f, "{}", self.line("error", msg));
                let _ = writeln!(stderr, "{msg}");
            }
            None => {
                let text = format!("time=\"{}\" level=error msg={}", now(), quote(msg));
                let _ = writeln!(stderr, "{text}");
            }
        }
    }
}

/// logrus quoting: Go's %q.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}
