#![forbid(unsafe_code)]
//! moat-spec: OCI config loading and validation into moat's own view, plus the
//! `moat spec` template and the `moat features` document.

pub mod features;
pub mod floor;
pub mod load;
pub mod template;
pub use load::{load, Config, Error};
