//! Loading a compiled seccomp BPF program into the calling thread.
