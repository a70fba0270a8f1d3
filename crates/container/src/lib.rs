#![forbid(unsafe_code)]
//! moat-container: the runtime itself — create, start, kill, delete, state —
//! with the process model of docs/process-model.md.

pub mod caps;
pub mod create;
pub mod devtree;
pub mod error;
pub mod exec;
mod fail;
pub mod hooks;
pub mod init;
pub mod manage;
pub mod mountopts;
pub mod ops;
pub mod overlay;
pub mod rootfs;
pub mod run;
pub mod state;
pub mod sync;
mod tty;
pub mod userns;

pub use create::{create, CreateOpts, Created};
pub use error::{Error, Result};
pub use state::{State, Status, Store};
