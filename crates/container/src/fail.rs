//! The init side's error: a step, a path and an errno, sent to the parent.

use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub step: &'static str,
    pub path: String,
    pub errno: i32,
}

pub type R<T> = Result<T, Fail>;

impl Fail {
    pub fn new(step: &'static str, path: impl std::fmt::Display, errno: i32) -> Fail {
        Fail {
            step,
            path: path.to_string(),
            errno,
        }
    }
}

fn errno_of(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

pub trait At<T> {
    fn at(self, step: &'static str, path: impl std::fmt::Display) -> R<T>;
}

impl<T> At<T> for Result<T, io::Error> {
    fn at(self, step: &'static str, path: impl std::fmt::Display) -> R<T> {
        self.map_err(|e| Fail::new(step, path, errno_of(e)))
    }
}

impl<T> At<T> for Result<T, rustix::io::Errno> {
    fn at(self, step: &'static str, path: impl std::fmt::Display) -> R<T> {
        self.map_err(|e| Fail::new(step, path, e.raw_os_error()))
    }
}

impl<T> At<T> for Result<T, nix::errno::Errno> {
    fn at(self, step: &'static str, path: impl std::fmt::Display) -> R<T> {
        self.map_err(|e| Fail::new(step, path, e as i32))
    }
}
