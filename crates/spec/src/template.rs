//! `moat spec`: the default config.json template, identical to runc 1.1's.
