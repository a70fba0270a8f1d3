//! Error text as runc prints it.

use std::io;

/// An io::Error as Go's `syscall.Errno` prints it, which is what runc's
/// messages carry: strerror(3) starting in lower case and without Rust's
/// " (os error N)" suffix ("no such file or directory"). containerd,
/// dockerd and podman match these words to choose exit codes (dockerd maps
/// a create error containing "no such file or directory" to 127), so moat
/// must word them the same. Errors without an errno print as they are.
pub fn text(e: &io::Error) -> String {
    let s = e.to_string();
    let Some(i) = s
        .rfind(" (os error ")
        .filter(|_| e.raw_os_error().is_some())
    else {
        return s;
    };
    let mut c = s[..i].chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// [`text`] for a raw errno.
pub fn text_of(errno: i32) -> String {
    text(&io::Error::from_raw_os_error(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worded_like_go() {
        assert_eq!(text_of(2), "no such file or directory");
        assert_eq!(text_of(13), "permission denied");
        assert_eq!(text_of(1), "operation not permitted");
        let custom = io::Error::other("Not An Errno (os error 5)");
        assert_eq!(text(&custom), "Not An Errno (os error 5)");
    }
}
