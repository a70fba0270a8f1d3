//! `create`: the parent side of the single clone.
//!
//! Order (docs/process-model.md): load and validate the bundle; make the
//! state dir and record the cgroup dirs we are about to create; create the
//! cgroup; make the exec fifo; clone the init into its namespaces; write its
//! uid/gid maps and join it to the cgroup; run prestart/createRuntime hooks
//! when the init reaches that point; wait for `Ready`; write the state.
//! Any failure undoes everything: the init is killed and reaped, the cgroup
//! and the state dir removed.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::init::{self, InitArgs};
use crate::state::{self, Locked, Phase, State, Store};
use crate::sync::{self, Msg};

/// The flags of `create` / `run` that shape the container.
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// `run` in the foreground: a pty (when the config asks for one) is
    /// relayed by moat itself instead of handed to a console socket.
    pub foreground: bool,
    /// `run`: the init goes on to execve as soon as the created state is
    /// saved; no exec fifo.
    pub start: bool,
    /// The host's security floor.
    pub policy: moat_spec::floor::Policy,
}

/// A container whose init is blocked on the exec fifo (`create`), or on its
/// way to execve (`run`).
pub struct Created {
    pub state: State,
    pub locked: Locked,
    /// The pty master when `run` relays it.
    pub pty: Option<OwnedFd>,
    pub cgroup: Box<dyn moat_cgroups::Cgroup>,
}

pub(crate) fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub fn seccomp_cache_dir(store: &Store) -> PathBuf {
    store.root.join(".cache").join("seccomp")
}

/// Create a container. On error nothing is left behind.
pub fn create(store: &Store, o: &CreateOpts) -> Result<Created> {
    state::check_id(&o.id)?;
    let mut cfg = moat_spec::load(&o.bundle)?;
    let mut floor = moat_spec::floor::apply(&mut cfg.spec, &o.policy);
    // The floor's private user namespace: a host id range of our own.
    let mut slot = None;
    let wants_userns = moat_spec::floor::wants_private_userns(&cfg.spec, &o.policy);
    let pod = if wants_userns {
        pod_userns(&cfg.spec)
    } else {
        Pod::No
    };
    let rootfs_map = match (&pod, wants_userns) {
        (Pod::Refuse(why), _) => RootfsMap::Not(why.clone()),
        (_, true) => RootfsMap::of(&cfg.rootfs),
        _ => RootfsMap::Not(String::new()),
    };
    if let (true, RootfsMap::Not(why)) = (wants_userns, &rootfs_map) {
        // Without an id-mapped rootfs the container's root could neither
        // write its own image nor, under a 0700 bundle, even reach it.
        floor.push(format!("user namespace: not added ({why})"));
    }
    let mut root_ids = (0, 0);
    // Bind mounts the floor id-maps (indices): the parent opens them, so
    // 0700 host dirs above a source (docker's, podman's) are no obstacle;
    // a filesystem that cannot be id-mapped gets a plain copy of the tree.
    let mut floor_idmaps = Vec::new();
    // The pod sandbox's user namespace this container joins.
    let mut pod_ns = None;
    if !matches!(rootfs_map, RootfsMap::Not(_)) {
        if let Pod::Join { path, uid, gid } = pod {
            moat_spec::floor::join_userns(&mut cfg.spec, &path, uid, gid, crate::userns::SLOT);
            root_ids = (uid, gid);
            floor.push(format!(
                "user namespace: joins its pod sandbox's ({}), container root is host uid {uid}",
                path.display()
            ));
            pod_ns = Some(path);
        } else {
            let (n, uid, gid) = crate::userns::allocate(&store.root, &o.id)?;
            slot = Some(SlotGuard {
                root: store.root.clone(),
                slot: n,
            });
            root_ids = (uid, gid);
            moat_spec::floor::set_userns(&mut cfg.spec, uid, gid, crate::userns::SLOT);
            floor.push(format!("user namespace: container root is host uid {uid}"));
        }
        if let RootfsMap::Overlay(_) = rootfs_map {
            floor.push("rootfs: overlay rebuilt from id-mapped layers".to_string());
        }
        if let Some(change) = clamp_ping_group_range(&mut cfg.spec, crate::userns::SLOT) {
            floor.push(change);
        }
        floor_idmaps = idmap_binds(&mut cfg.spec)?;
        if !floor_idmaps.is_empty() {
            floor.push(format!(
                "bind mounts: {} id-mapped (where the filesystem allows)",
                floor_idmaps.len()
            ));
        }
    }
    let spec = &cfg.spec;
    let process = spec.process().as_ref().expect("validated");
    let terminal = process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && !o.foreground {
        return Err(Error::Refused(
            "cannot allocate tty if moat will detach without setting console socket".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Refused(
            "cannot use console socket if moat will not detach or allocate tty".into(),
        ));
    }
    let console = match &o.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let linux = spec.linux().as_ref().expect("validated");

    // Namespaces: new ones go into the clone flags; joined ones are opened
    // now (the parent joins pid, the init the rest, user first).
    let mut new = CloneFlags::empty();
    let mut joins: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut pid_join = None;
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        match ns.path() {
            None => new |= ns_flag(ns.typ()),
            Some(p) => {
                let fd = rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                    .at("open namespace", p)?;
                if ns.typ() == LinuxNamespaceType::Pid {
                    pid_join = Some(fd);
                } else if ns.typ() == LinuxNamespaceType::User {
                    joins.insert(0, (ns.typ(), fd));
                } else {
                    joins.push((ns.typ(), fd));
                }
            }
        }
    }
    let new_cgroupns = new.contains(CloneFlags::CLONE_NEWCGROUP);
    let new_time = new.contains(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
    let new_net = new.contains(CloneFlags::CLONE_NEWNET);
    let new_user = new.contains(CloneFlags::CLONE_NEWUSER);
    // The cgroup namespace is unshared by the init once it is in its cgroup,
    // the time namespace once its offsets are written.
    let mut clone_flags =
        new - CloneFlags::CLONE_NEWCGROUP - CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    // Joining a namespace owned by another user namespace must happen before
    // a new user namespace exists: then the init unshares after its setns.
    // With a new user namespace the other namespaces are made by the init
    // once it is root in it (as runc does), so that they — and e.g. the
    // mqueue of the new ipc namespace — belong to the container's root.
    let mut unshare = CloneFlags::empty();
    if !joins.is_empty() || new_user {
        unshare = clone_flags - CloneFlags::CLONE_NEWPID;
        clone_flags &= CloneFlags::CLONE_NEWPID;
        if joins.is_empty() {
            clone_flags |= CloneFlags::CLONE_NEWUSER;
            unshare -= CloneFlags::CLONE_NEWUSER;
        }
    }
    // A new pid namespace must belong to the user namespace the container
    // joins (Kubernetes pods: each container joins the sandbox's user and
    // network namespaces with a pid namespace of its own). The init joins
    // the user namespace, unshares the pid namespace and forks once more:
    // the grandchild is the container's pid 1.
    if pod_ns.is_some() {
        // A pod's user namespace, joined by the floor: namespaces the host
        // owns (containerd's netns) can only be joined before it, while the
        // init is still host root; the sandbox's own after it.
        let host = host_userns_id().at("stat", "/proc/self/ns/user")?;
        let host_owned = |fd: &OwnedFd| owner_userns_id(fd.as_fd()) == Some(host);
        let (first, rest): (Vec<_>, Vec<_>) = joins
            .into_iter()
            .partition(|(t, fd)| *t != LinuxNamespaceType::User && host_owned(fd));
        joins = first;
        joins.extend(rest);
    }
    let joins_user = joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
    let double_fork = joins_user && clone_flags.contains(CloneFlags::CLONE_NEWPID);
    if double_fork {
        clone_flags -= CloneFlags::CLONE_NEWPID;
        unshare |= CloneFlags::CLONE_NEWPID;
    }
    // Mounts asking for `idmap`/`ridmap`: the parent makes those trees once
    // the init's user namespace exists.
    let mut idmapped: Vec<(u32, PathBuf, bool)> = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = crate::mountopts::parse(m.options().as_deref().unwrap_or_default())
            .map_err(Error::Refused)?;
        let Some(recursive) = opts.idmap else {
            continue;
        };
        if !new.contains(CloneFlags::CLONE_NEWUSER) && pod_ns.is_none() {
            return Err(Error::Refused(format!(
                "mount {}: idmap needs the container to have a new user namespace",
                m.destination().display()
            )));
        }
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(Error::Refused(format!(
                "mount {}: per-mount uidMappings/gidMappings are not supported yet (idmap uses the container's)",
                m.destination().display()
            )));
        }
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            cfg.bundle.join(src)
        };
        idmapped.push((i as u32, src, recursive));
    }
    // The floor's user namespace: the parent makes /dev with its nodes (see
    // devtree.rs); it follows Go with the id-mapped trees. A config's own
    // user namespace gets runc's binds, as runc shows them.
    let (dev_tree, unopenable) = if slot.is_some() && new.contains(CloneFlags::CLONE_NEWUSER) {
        (
            crate::devtree::build(spec)?,
            crate::rootfs::host_unopenable(spec),
        )
    } else {
        (None, Vec::new())
    };
    let new_mnt = new.contains(CloneFlags::CLONE_NEWNS);
    let joins_mnt = joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount);
    if !new_mnt && !joins_mnt {
        return Err(Error::Refused(
            "moat needs a mount namespace: add {\"type\": \"mount\"} to linux.namespaces".into(),
        ));
    }

    let seccomp = match linux.seccomp() {
        Some(s) => Some(moat_seccomp::compile_cached(s, &seccomp_cache_dir(store))?),
        None => None,
    };

    let (cg_root, host_mountinfo) = moat_cgroups::Root::detect_with_mountinfo()?;
    // The init's mount namespace starts as a copy of ours (unless it joins
    // one): its cgroup mounts are in this text.
    let host_mountinfo = (!joins_mnt).then_some(host_mountinfo.as_str());
    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let cgroup = moat_cgroups::open(&cg_root, cgroups_path.as_deref(), &o.id)?;

    // The floored config, for `exec` (the floor binds every process moat
    // starts in the container) and `moat floor`; moat's default seccomp
    // profile is left out (exec puts it back from `default_seccomp`).
    let default_seccomp = floor
        .iter()
        .any(|c| c == moat_spec::floor::DEFAULT_SECCOMP_CHANGE);
    let stored = if default_seccomp {
        let mut s = spec.clone();
        if let Some(l) = s.linux_mut().as_mut() {
            l.set_seccomp(None);
        }
        serde_json::value::to_raw_value(&s)
    } else {
        serde_json::value::to_raw_value(spec)
    };
    let locked = store.create(&o.id)?;
    let mut st = State {
        id: o.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: cfg.bundle.clone(),
        rootfs: cfg.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        phase: Phase::Creating,
        annotations: floor_annotations(spec.annotations().clone(), &floor),
        cgroup_paths: cgroup.paths(),
        cgroups_path,
        hooks: spec.hooks().clone(),
        userns_slot: slot.as_ref().map(|g| g.slot),
        default_seccomp,
        config: Some(stored.expect("spec serializes")),
    };
    let mut undo = Undo {
        locked: Some(locked),
        cgroup: Some(&*cgroup),
        pid: 0,
    };
    // Record the cgroup dirs before creating them.
    undo.locked().save(&st)?;
    cgroup.create()?;
    cgroup.apply(&effective_resources(linux.resources().as_ref()))?;
    if !o.start {
        make_exec_fifo(&undo.locked().fifo(), new_user, linux)?;
    }
    let state_dir = rustix::fs::open(
        &undo.locked().dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open state dir", &undo.locked().dir)?;
    let rootfs_fd = rustix::fs::open(
        &cfg.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open rootfs", &cfg.rootfs)?;
    let (parent_end, child_end) = sync::pair().at("create sync socket", "socketpair")?;

    let hooks = spec.hooks().as_ref();
    let runtime_hooks: Vec<oci_spec::runtime::Hook> = hooks
        .map(|h| {
            #[allow(deprecated)]
            let pre = h.prestart().clone().unwrap_or_default();
            pre.into_iter()
                .chain(h.create_runtime().clone().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    let hooks_sync = !runtime_hooks.is_empty()
        || hooks.is_some_and(|h| {
            h.create_container().as_ref().is_some_and(|v| !v.is_empty())
                || h.start_container().as_ref().is_some_and(|v| !v.is_empty())
        });

    if let Some(fd) = &pid_join {
        nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
            .at("setns pid for children", "pid")?;
    }
    // The init starts in its cgroup: v1 hierarchies by moving ourselves in
    // for the clone (cheap, see Cgroup::enter), cgroup2 by CLONE_INTO_CGROUP.
    // A pids limit under 2 could not hold us and the init at once: those
    // migrate the init afterwards.
    let pids_limit = linux
        .resources()
        .as_ref()
        .and_then(|r| r.pids().as_ref())
        .map(|p| p.limit());
    let entered = if pids_limit.is_some_and(|l| (0..2).contains(&l)) {
        None
    } else {
        cgroup.enter()?
    };
    let v2_fd = cgroup.v2_dir_fd();
    let cloned = moat_sys::clone3(clone_flags.bits() as u64, v2_fd.as_ref().map(|f| f.as_fd()));
    if let (Err(_), Some(e)) = (&cloned, &entered) {
        moat_cgroups::leave(e)?;
    }
    if pid_join.is_some() {
        let me = std::fs::File::open("/proc/self/ns/pid").at("open", "/proc/self/ns/pid")?;
        nix::sched::setns(me.as_fd(), CloneFlags::CLONE_NEWPID)
            .at("restore pid namespace", "pid")?;
    }
    let mut pid = match cloned.at("clone init", o.bundle.clone())? {
        moat_sys::Cloned::Child => {
            drop(parent_end);
            // The state-dir lock must die with the parent, not live on in
            // the init while it waits for `start`.
            moat_sys::close_inherited(undo.locked().lock_raw_fd());
            let a = InitArgs {
                spec,
                rootfs: &cfg.rootfs,
                bundle: &cfg.bundle,
                state_dir: &state_dir,
                rootfs_fd: &rootfs_fd,
                joins: &joins,
                unshare,
                new_user,
                new_mnt,
                new_cgroupns,
                new_time,
                new_net,
                seccomp: seccomp.as_ref(),
                no_pivot: o.no_pivot,
                joins_user,
                double_fork,
                no_new_keyring: o.no_new_keyring,
                preserve_fds: o.preserve_fds,
                hooks_sync,
                exec_fifo: !o.start,
                dev_tree: dev_tree.as_ref().map(|(i, _)| *i),
                unopenable: &unopenable,
                host_mountinfo,
                cgroup_paths: &st.cgroup_paths,
            };
            init::run(&a, child_end)
        }
        moat_sys::Cloned::Parent(pid) => pid,
    };
    drop(child_end);
    undo.pid = pid;
    if let Some(e) = &entered {
        moat_cgroups::leave(e)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        // From here: the init, non-dumpable in a user namespace of its own,
        // may not open its own /proc files (they stay host root's). Its
        // children inherit the value.
        let path = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&path, adj.to_string()).at("write", &path)?;
    }
    st.pid = pid;
    st.pid_start = state::proc_start_time(pid).unwrap_or(0);
    // A hook may ask `state` for the pid while create runs. Without hooks
    // the created state below is the first to name the init: one file
    // write less. An init whose parent dies before that exits on its own
    // (EOF on the sync channel), and delete finds its cgroup recorded.
    if hooks_sync {
        undo.locked().save(&st)?;
    }

    // Go first, then migrate into the cgroup: the init does its namespace
    // and mount work meanwhile and waits for `Joined` only where it must.
    let first_pid = pid;
    let join = || -> Result<()> {
        if entered.is_none() && !cgroup.is_v2() {
            cgroup.add_pid(first_pid)?;
        }
        // An init that already failed has closed its end: its Error message
        // (read by the loop below) is the story to tell, not our EPIPE.
        let _ = parent_end.send(&Msg::Joined);
        Ok(())
    };
    // Go, with the id-mapped rootfs (or rebuilt overlay) for a floor-made
    // or pod-joined user namespace, then the trees of idmap mounts. The
    // image then needs no chown and host root's files are the container
    // root's.
    let go_with_trees = |nsf: &std::fs::File, st: &mut State| -> Result<()> {
        let tree = match &rootfs_map {
            RootfsMap::Idmap => idmapped_rootfs(nsf, &cfg.rootfs, st),
            RootfsMap::Overlay(l) => Some(
                crate::overlay::build(l, nsf, root_ids)
                    .at("rebuild overlay rootfs from id-mapped layers", &cfg.rootfs)?,
            ),
            RootfsMap::Not(_) => None,
        };
        parent_end
            .send_with_fd(&Msg::Go, tree.as_ref().map(|t| t.as_fd()))
            .at("write sync channel", "init")?;
        for (i, src, recursive) in &idmapped {
            let t = match moat_sys::mount::idmapped_tree_with(src, nsf, *recursive) {
                Err(e)
                    if floor_idmaps.contains(&(*i as usize))
                        && e.raw_os_error() == Some(libc::EINVAL) =>
                {
                    moat_sys::mount::tree(src, *recursive)
                }
                r => r,
            }
            .at("make id-mapped mount", src)?;
            parent_end
                .send_with_fd(&Msg::Tree(*i), Some(t.as_fd()))
                .at("write sync channel", "init")?;
        }
        if let Some((i, t)) = &dev_tree {
            parent_end
                .send_with_fd(&Msg::Tree(*i as u32), Some(t.as_fd()))
                .at("write sync channel", "init")?;
        }
        Ok(())
    };
    if !new_user {
        match &pod_ns {
            Some(path) => {
                let nsf = std::fs::File::open(path).at("open", path)?;
                go_with_trees(&nsf, &mut st)?;
            }
            None => {
                let _ = parent_end.send(&Msg::Go);
            }
        }
        join()?;
    }
    let mut pty = None;
    loop {
        let msg = parent_end.recv().at("read sync channel", "init")?;
        let Some((msg, fd)) = msg else {
            return Err(Error::Refused(format!(
                "container init exited before it was ready: {}",
                reap_status(pid)
            )));
        };
        match msg {
            Msg::NeedMaps => {
                write_id_maps(pid, linux)?;
                let ns = format!("/proc/{pid}/ns/user");
                let nsf = std::fs::File::open(&ns).at("open", &ns)?;
                go_with_trees(&nsf, &mut st)?;
                join()?;
            }
            Msg::HooksPoint => {
                let js = crate::hooks::state_json(
                    &o.id,
                    "creating",
                    pid,
                    &cfg.bundle,
                    spec.annotations().as_ref(),
                );
                crate::hooks::run("prestart/createRuntime", &runtime_hooks, &js)
                    .map_err(Error::Refused)?;
                parent_end
                    .send(&Msg::HooksDone(js))
                    .at("write sync channel", "init")?;
            }
            Msg::Pty => {
                let fd = fd.ok_or_else(|| Error::Refused("init sent no pty master".into()))?;
                match &console {
                    Some(sock) => sync::send_bytes_fd(sock.as_fd(), b"/dev/ptmx", Some(fd.as_fd()))
                        .at(
                            "send pty master to console socket",
                            o.console_socket.clone().unwrap_or_default(),
                        )?,
                    None => pty = Some(fd),
                }
            }
            Msg::Pid(gpid) => {
                // The intermediate forked the real init and exits.
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                pid = gpid;
                undo.pid = gpid;
                st.pid = gpid;
                st.pid_start = state::proc_start_time(gpid).unwrap_or(0);
                undo.locked().save(&st)?;
            }
            Msg::Ready => break,
            Msg::Error { step, path, errno } => return Err(Error::Init { step, path, errno }),
            Msg::Go | Msg::Joined | Msg::Tree(_) | Msg::HooksDone(_) | Msg::Saved | Msg::Start => {
                return Err(Error::Refused("unexpected sync message from init".into()))
            }
        }
    }
    st.phase = Phase::Created;
    undo.locked().save(&st)?;
    // The init waits for this before it blocks on the fifo or execs.
    parent_end
        .send(if o.start { &Msg::Start } else { &Msg::Saved })
        .map_err(|_| {
            Error::Refused(format!(
                "container init exited before start: {}",
                reap_status(pid)
            ))
        })?;
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    let locked = undo.disarm();
    if let Some(g) = slot {
        std::mem::forget(g);
    }
    Ok(Created {
        state: st,
        locked,
        pty,
        cgroup,
    })
}

/// The config's resources plus runc's always-allowed devices, appended after
/// the config's own device rules (so a config's "deny all" still lets the
/// container use /dev/null, its pty and friends).
pub fn effective_resources(
    r: Option<&oci_spec::runtime::LinuxResources>,
) -> oci_spec::runtime::LinuxResources {
    let mut r = r.cloned().unwrap_or_default();
    let mut devs = r.devices().clone().unwrap_or_default();
    let allowed: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_str(DEFAULT_ALLOWED_DEVICES).expect("static device list parses");
    devs.extend(allowed);
    r.set_devices(Some(devs));
    r
}

/// runc 1.1's `AllowedDevices`.
const DEFAULT_ALLOWED_DEVICES: &str = r#"[
 {"allow": true, "type": "c", "access": "m"},
 {"allow": true, "type": "b", "access": "m"},
 {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
 {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
 {"allow": true, "type": "c", "major": 136, "access": "rwm"},
 {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
 {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
]"#;

/// A config that joins namespaces another user namespace owns.
enum Pod {
    /// It joins none (or only the host's).
    No,
    /// A pod's sandbox: its floor-made user namespace owns the namespaces
    /// the container joins; the container joins it too (as Kubernetes pods
    /// with their own user namespace share one). Its root's host ids.
    Join { path: PathBuf, uid: u32, gid: u32 },
    /// Joins namespaces of a user namespace it cannot find the path of.
    Refuse(String),
}

/// Whether the config joins (by path) namespaces that a user namespace other
/// than the host's owns — a container joining its pod's sandbox. A fresh
/// user namespace of its own could not act in those, so it joins the
/// owner, found through a `/proc/<pid>/ns/…` path among the joins.
fn pod_userns(spec: &oci_spec::runtime::Spec) -> Pod {
    use std::os::unix::fs::MetadataExt;
    let Ok(host) = host_userns_id() else {
        return Pod::No;
    };
    let Some(namespaces) = spec.linux().as_ref().and_then(|l| l.namespaces().clone()) else {
        return Pod::No;
    };
    let paths: Vec<PathBuf> = namespaces.iter().filter_map(|n| n.path().clone()).collect();
    for p in &paths {
        let Ok(f) = std::fs::File::open(p) else {
            continue; // reported with its path when the join is opened
        };
        let Some(id) = owner_userns_id(f.as_fd()) else {
            continue;
        };
        if id == host {
            continue;
        }
        // A process of that user namespace, named by one of the paths.
        for q in &paths {
            let Some(proc_dir) = q.parent().and_then(|d| d.parent()) else {
                continue;
            };
            if proc_dir.parent() != Some(Path::new("/proc")) {
                continue;
            }
            let user = proc_dir.join("ns/user");
            let same = std::fs::metadata(&user).is_ok_and(|m| (m.dev(), m.ino()) == id);
            let maps = (
                root_host_id(&proc_dir.join("uid_map")),
                root_host_id(&proc_dir.join("gid_map")),
            );
            if let (true, (Some(uid), Some(gid))) = (same, maps) {
                return Pod::Join {
                    path: user,
                    uid,
                    gid,
                };
            }
        }
        return Pod::Refuse(format!(
            "joins {} owned by another user namespace, not found",
            p.display()
        ));
    }
    Pod::No
}

/// (device, inode) of this process's user namespace.
fn host_userns_id() -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/ns/user")?;
    Ok((m.dev(), m.ino()))
}

/// (device, inode) of the user namespace that owns the namespace `ns`.
fn owner_userns_id(ns: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64)> {
    let owner = moat_sys::process::ns_owner(ns).ok()?;
    let st = rustix::fs::fstat(&owner).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// The host id container id 0 maps to, when the map is one extent of the
/// floor's size (a floor-made namespace).
fn root_host_id(map: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(map).ok()?;
    let mut lines = text.lines();
    let f: Vec<u32> = lines
        .next()?
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    (f.len() == 3 && f[0] == 0 && f[2] == crate::userns::SLOT && lines.next().is_none())
        .then_some(f[1])
}

/// `net.ipv4.ping_group_range` may only name gids the user namespace maps
/// (docker asks for "0 2147483647"): clamp it to the floor's `size` ids.
fn clamp_ping_group_range(spec: &mut oci_spec::runtime::Spec, size: u32) -> Option<String> {
    const KEY: &str = "net.ipv4.ping_group_range";
    let linux = spec.linux_mut().as_mut()?;
    let mut sysctl = linux.sysctl().clone()?;
    let v = sysctl.get(KEY)?;
    let mut it = v.split_whitespace().map(|n| n.parse::<u64>());
    let (Some(Ok(lo)), Some(Ok(hi)), None) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    let max = u64::from(size - 1);
    if hi <= max {
        return None;
    }
    let new = format!("{} {max}", lo.min(max));
    let change = format!("sysctl {KEY}: \"{v}\" -> \"{new}\" (the user namespace's gids)");
    sysctl.insert(KEY.to_string(), new);
    linux.set_sysctl(Some(sysctl));
    Some(change)
}

/// Mark every bind mount without `idmap`/`ridmap` for an id-mapped copy
/// (`ridmap` for `rbind`); returns their indices.
fn idmap_binds(spec: &mut oci_spec::runtime::Spec) -> Result<Vec<usize>> {
    let mut marked = Vec::new();
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (i, m) in mounts.iter_mut().enumerate() {
        let mut opts = m.options().clone().unwrap_or_default();
        let parsed = crate::mountopts::parse(&opts).map_err(Error::Refused)?;
        if !parsed.is_bind() || parsed.idmap.is_some() {
            continue;
        }
        let rec = parsed.flags.contains(nix::mount::MsFlags::MS_REC);
        opts.push(if rec { "ridmap" } else { "idmap" }.to_string());
        m.set_options(Some(opts));
        marked.push(i);
    }
    spec.set_mounts(Some(mounts));
    Ok(marked)
}

/// How a floor-made user namespace gets a rootfs its root owns.
enum RootfsMap {
    /// An id-mapped copy of the rootfs mount tree.
    Idmap,
    /// A new overlay of the rootfs overlay's layers, each id-mapped.
    Overlay(crate::overlay::Layers),
    /// Neither: no user namespace is added (why).
    Not(String),
}

impl RootfsMap {
    fn of(rootfs: &Path) -> RootfsMap {
        if rootfs_idmappable(rootfs) {
            return RootfsMap::Idmap;
        }
        match rustix::fs::statfs(rootfs) {
            Ok(s) if s.f_type == OVERLAYFS_MAGIC => match crate::overlay::layers(rootfs) {
                Ok(l) => RootfsMap::Overlay(l),
                Err(why) => RootfsMap::Not(why),
            },
            Ok(s) => RootfsMap::Not(format!("filesystem type {:#x}", { s.f_type })),
            Err(e) => RootfsMap::Not(format!("statfs: {e}")),
        }
    }
}

const OVERLAYFS_MAGIC: i64 = 0x794C_7630;

/// Filesystems known to support id-mapped mounts (Linux ≥ 6.3 for tmpfs).
/// overlayfs is not among them: only its layers can be id-mapped.
fn rootfs_idmappable(rootfs: &Path) -> bool {
    const OK: [i64; 6] = [
        0xEF53,      // ext2/3/4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0xF2F5_2010, // f2fs
        0x2FC1_2FC1, // zfs
    ];
    rustix::fs::statfs(rootfs).is_ok_and(|s| OK.contains(&{ s.f_type }))
}

/// Releases an allocated user namespace slot unless the create succeeds.
struct SlotGuard {
    root: PathBuf,
    slot: u32,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        crate::userns::release(&self.root, self.slot);
    }
}

/// An id-mapped copy of the rootfs for the init's user namespace, or None
/// (noted in the state) where the filesystem cannot do id-mapped mounts.
fn idmapped_rootfs(userns: &std::fs::File, rootfs: &Path, st: &mut State) -> Option<OwnedFd> {
    let r = moat_sys::mount::idmapped_tree(rootfs, userns);
    match r {
        Ok(t) => Some(t),
        Err(e) => {
            let a = st.annotations.get_or_insert_with(Default::default);
            let note = a.entry(FLOOR_ANNOTATION.to_string()).or_default();
            note.push_str(&format!("; rootfs not id-mapped: {e}"));
            None
        }
    }
}

/// The effective (floored) config, kept in the container's state dir.
/// `create`'s exec fifo: exactly 0622 (mkfifo applies the umask), owned by
/// the container's root so that a user-namespaced init can open it for
/// writing.
fn make_exec_fifo(fifo: &Path, new_user: bool, linux: &oci_spec::runtime::Linux) -> Result<()> {
    nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .at("create exec fifo", fifo)?;
    std::fs::set_permissions(fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .at("chmod exec fifo", fifo)?;
    let host_root = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map(|m| m.host_id())
    };
    if new_user {
        std::os::unix::fs::chown(
            fifo,
            host_root(linux.uid_mappings()),
            host_root(linux.gid_mappings()),
        )
        .at("chown exec fifo", fifo)?;
    }
    Ok(())
}

/// Where earlier moat builds kept the effective config (now in state.json).
pub const EFFECTIVE_CONFIG: &str = "config.json";

/// The annotation naming what the floor changed.
pub const FLOOR_ANNOTATION: &str = "io.moat.floor";

fn floor_annotations(
    a: Option<std::collections::HashMap<String, String>>,
    changes: &[String],
) -> Option<std::collections::HashMap<String, String>> {
    if changes.is_empty() {
        return a;
    }
    let mut a = a.unwrap_or_default();
    a.insert(FLOOR_ANNOTATION.to_string(), changes.join("; "));
    Some(a)
}

/// What was created so far, undone on drop unless disarmed.
struct Undo<'a> {
    locked: Option<Locked>,
    cgroup: Option<&'a dyn moat_cgroups::Cgroup>,
    pid: i32,
}

impl Undo<'_> {
    fn locked(&self) -> &Locked {
        self.locked.as_ref().expect("armed")
    }
    fn disarm(mut self) -> Locked {
        self.cgroup = None;
        self.locked.take().expect("armed")
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        let Some(locked) = self.locked.take() else {
            return;
        };
        if self.pid > 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
        }
        if let Some(cg) = self.cgroup {
            let _ = cg.destroy();
        }
        let _ = locked.remove();
    }
}

fn reap_status(pid: i32) -> String {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => format!("exit status {c}"),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("wait: {e}"),
    }
}

fn write_id_maps(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let fmt = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uid = format!("/proc/{pid}/uid_map");
    let gid = format!("/proc/{pid}/gid_map");
    std::fs::write(&uid, fmt(linux.uid_mappings())).at("write uid map", &uid)?;
    std::fs::write(&gid, fmt(linux.gid_mappings())).at("write gid map", &gid)?;
    Ok(())
}

fn connect_console(p: &Path) -> Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .at("create console socket", p)?;
    let addr = rustix::net::SocketAddrUnix::new(p).at("console socket path", p)?;
    rustix::net::connect(&sock, &addr).at("connect console socket", p)?;
    Ok(sock)
}

/// Write the pid file atomically, as runc does.
pub fn write_pid_file(p: &Path, pid: i32) -> Result<()> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.moat-tmp",
        p.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.to_string()).at("write pid file", &tmp)?;
    std::fs::rename(&tmp, p).at("write pid file", p)
}
