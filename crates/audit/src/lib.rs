#![forbid(unsafe_code)]
//! moat-audit: isolation audit of any runc-compatible runtime.
//!
//! * [`checks`] — the check catalogue and the verdicts: pure functions from observations
//!   (what the probe saw inside tenant A, what the auditor saw of tenant B from the host, the
//!   host's own baseline) to `blocked` / `exposed` / `skipped(reason)`.
//! * [`profiles`] — the configs audited (`default`, `docker-like`, a file) and the controls
//!   the tests use (`weak`: everything open; `strict`: everything closed).
//! * [`runner`] — builds busybox + probe bundles, drives the runtime through its CLI
//!   (`RUNTIME --root TMP run --bundle B ID`), always cleans up.
//! * [`report`] — table / JSON / side-by-side comparison.
//! * [`host`] — what the host kernel offers.
//!
//! The probe itself (the code that runs inside the containers) is the `moat-audit-probe`
//! crate: it needs a few raw syscalls, and this crate keeps `#![forbid(unsafe_code)]`.

pub mod checks;
pub mod host;
pub mod html;
pub mod lint;
pub mod profiles;
pub mod report;
pub mod runner;

pub use checks::{evaluate, CheckResult, Observations, Severity, Verdict, CHECKS};
