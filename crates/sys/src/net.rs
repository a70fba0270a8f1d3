//! Network interface flags.

use std::io;
use std::os::fd::AsRawFd;

/// Bring the loopback interface of the caller's network namespace up, as
/// runc and crun do in a network namespace they create (a new one starts
/// with `lo` down: nothing can use 127.0.0.1 or ::1).
pub fn loopback_up() -> io::Result<()> {
    // Interface ioctls act on the socket's network namespace, whatever its
    // family; a unix socket is the cheapest to make (no protocol state).
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is plain old data (a name and a union of integers); all
    // zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes the
    // flags into the ifreq we own; the socket fd is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled ifru_flags, the union's active member.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS only reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
