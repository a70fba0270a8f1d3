//! The one typed channel between `moat create` (parent) and the container
//! init (child): a `SOCK_SEQPACKET` pair, one message per packet, so message
//! boundaries are kept and a dead peer reads as end-of-file.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// What the two sides say to each other, in protocol order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// child → parent: my user namespace exists, write my uid/gid maps.
    NeedMaps,
    /// parent → child: you are in your cgroup now (sent after `Go`, so the
    /// cgroup v1 migration — which can wait an RCU grace period — overlaps
    /// the init's own setup).
    Joined,
    /// parent → child: maps written (when asked) and cgroup joined; go on.
    Go,
    /// child → parent: namespaces and mounts are ready; run prestart and
    /// createRuntime hooks now (sent only when the config has such hooks).
    HooksPoint,
    /// parent → child: those hooks ran; carries the state JSON for the
    /// hooks the init runs itself (createContainer, startContainer).
    HooksDone(String),
    /// child → parent: a pty master follows as SCM_RIGHTS on this message.
    Pty,
    /// parent → child: the id-mapped tree for `mounts[i]` (SCM_RIGHTS).
    Tree(u32),
    /// child → parent: after a second fork (joined user namespace + new pid
    /// namespace) this is the real init's pid; the sender exits.
    Pid(i32),
    /// child → parent: everything before `execve` is done; waiting for start.
    Ready,
    /// parent → child (`create`): the created state is saved; wait on the
    /// exec fifo for `start`. An init whose parent died before this (EOF)
    /// exits: no state names it, so nothing else could stop it.
    Saved,
    /// parent → child (`run`): the created state is saved; go on to execve
    /// at once (no exec fifo).
    Start,
    /// child → parent: a step failed.
    Error {
        step: String,
        path: String,
        errno: i32,
    },
}

const T_NEED_MAPS: u8 = 1;
const T_GO: u8 = 2;
const T_HOOKS_POINT: u8 = 3;
const T_HOOKS_DONE: u8 = 4;
const T_PTY: u8 = 5;
const T_READY: u8 = 6;
const T_ERROR: u8 = 7;
const T_JOINED: u8 = 8;
const T_TREE: u8 = 9;
const T_PID: u8 = 10;
const T_SAVED: u8 = 11;
const T_START: u8 = 12;

const MAX: usize = 4096;

impl Msg {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        match self {
            Msg::NeedMaps => buf.push(T_NEED_MAPS),
            Msg::Joined => buf.push(T_JOINED),
            Msg::Tree(i) => {
                buf.push(T_TREE);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Msg::Pid(p) => {
                buf.push(T_PID);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Go => buf.push(T_GO),
            Msg::HooksPoint => buf.push(T_HOOKS_POINT),
            Msg::HooksDone(state) => {
                buf.push(T_HOOKS_DONE);
                buf.extend_from_slice(&state.as_bytes()[..state.len().min(MAX - 1)]);
            }
            Msg::Pty => buf.push(T_PTY),
            Msg::Ready => buf.push(T_READY),
            Msg::Saved => buf.push(T_SAVED),
            Msg::Start => buf.push(T_START),
            Msg::Error { step, path, errno } => {
                buf.push(T_ERROR);
                buf.extend_from_slice(&errno.to_le_bytes());
                let step = &step.as_bytes()[..step.len().min(1024)];
                buf.extend_from_slice(&(step.len() as u16).to_le_bytes());
                buf.extend_from_slice(step);
                let path = &path.as_bytes()[..path.len().min(MAX - 8 - step.len())];
                buf.extend_from_slice(path);
            }
        }
    }

    fn decode(b: &[u8]) -> io::Result<Msg> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sync message");
        Ok(match *b.first().ok_or_else(bad)? {
            T_NEED_MAPS => Msg::NeedMaps,
            T_JOINED => Msg::Joined,
            T_PID => Msg::Pid(i32::from_le_bytes(
                b.get(1..5).ok_or_else(bad)?.try_into().unwrap(),
            )),
            T_TREE => Msg::Tree(u32::from_le_bytes(
                b.get(1..5).ok_or_else(bad)?.try_into().unwrap(),
            )),
            T_GO => Msg::Go,
            T_HOOKS_POINT => Msg::HooksPoint,
            T_HOOKS_DONE => Msg::HooksDone(String::from_utf8_lossy(&b[1..]).into_owned()),
            T_PTY => Msg::Pty,
            T_READY => Msg::Ready,
            T_SAVED => Msg::Saved,
            T_START => Msg::Start,
            T_ERROR => {
                if b.len() < 7 {
                    return Err(bad());
                }
                let errno = i32::from_le_bytes(b[1..5].try_into().unwrap());
                let n = u16::from_le_bytes(b[5..7].try_into().unwrap()) as usize;
                let step = b.get(7..7 + n).ok_or_else(bad)?;
                Msg::Error {
                    step: String::from_utf8_lossy(step).into_owned(),
                    path: String::from_utf8_lossy(&b[7 + n..]).into_owned(),
                    errno,
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end). Both close on exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, m: &Msg) -> io::Result<()> {
        self.send_with_fd(m, None)
    }

    pub fn send_with_fd(&self, m: &Msg, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(16);
        m.encode(&mut buf);
        send_bytes_fd(self.fd.as_fd(), &buf, fd)
    }

    /// Receive one message; `Ok(None)` when the peer closed its end.
    pub fn recv(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = [0u8; MAX];
        let (n, fd) = recv_bytes_fd(self.fd.as_fd(), &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some((Msg::decode(&buf[..n])?, fd)))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Send bytes with an optional fd attached as SCM_RIGHTS.
pub fn send_bytes_fd(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        anc.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let iov = [io::IoSlice::new(bytes)];
    loop {
        match sendmsg(sock, &iov, &mut anc, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive bytes and at most one SCM_RIGHTS fd (received close-on-exec).
pub fn recv_bytes_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut reset = false;
    let r = loop {
        match recvmsg(sock, &mut iov, &mut anc, RecvFlags::CMSG_CLOEXEC) {
            Ok(r) => break r,
            Err(rustix::io::Errno::INTR) => continue,
            // A peer that exited with our messages unread resets the
            // connection; the error is reported once, before what it sent us
            // (an init's last words, its Error): read on once.
            Err(rustix::io::Errno::CONNRESET) if !reset => reset = true,
            Err(e) => return Err(e.into()),
        }
    };
    let mut got = None;
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for f in fds {
                if got.is_none() {
                    got = Some(f);
                }
            }
        }
    }
    Ok((r.bytes, got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_messages() {
        let (a, b) = pair().unwrap();
        let msgs = [
            Msg::NeedMaps,
            Msg::Joined,
            Msg::Tree(7),
            Msg::Pid(4242),
            Msg::Go,
            Msg::HooksPoint,
            Msg::HooksDone("{\"id\":\"x\"}".into()),
            Msg::Ready,
            Msg::Saved,
            Msg::Start,
            Msg::Error {
                step: "mount".into(),
                path: "/proc".into(),
                errno: 13,
            },
        ];
        for m in &msgs {
            a.send(m).unwrap();
            let (got, fd) = b.recv().unwrap().unwrap();
            assert_eq!(&got, m);
            assert!(fd.is_none());
        }
    }

    #[test]
    fn passes_fd_and_reports_eof() {
        let (a, b) = pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        b.send_with_fd(&Msg::Pty, Some(f.as_fd())).unwrap();
        let (m, fd) = a.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Pty);
        assert!(fd.is_some());
        drop(b);
        assert!(a.recv().unwrap().is_none());
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(Msg::decode(&[]).is_err());
        assert!(Msg::decode(&[99]).is_err());
        assert!(Msg::decode(&[T_ERROR, 1]).is_err());
    }
}
