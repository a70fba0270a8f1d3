//! Layer 2: cgroup v1 and hybrid layouts over fake trees.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use moat_cgroups::{open, open_recorded, Error, FreezerState, Layout, LinuxResources};

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

#[test]
fn paths_follow_runc_cgroupfs_semantics() {
    let t = Tmp::new("v1paths");
    let mut root = tree(&t, &v1_mountinfo(V1_CTRLS, false));
    assert_eq!(root.layout(), Layout::V1);
    root.set_self_cgroup("4:memory:/api/x\n1:cpu,cpuacct:/\n0::/\n")
        .unwrap();

    // None: the id, below the runtime's own cgroup.
    let cg = open(&root, None, "ctr").unwrap();
    let p = cg.paths();
    assert!(p.contains(&t.path("sys/fs/cgroup/memory/api/x/ctr")));
    assert!(p.contains(&t.path("sys/fs/cgroup/cpu,cpuacct/ctr")));
    assert!(
        p.contains(&t.path("sys/fs/cgroup/systemd/ctr")),
        "name=systemd is joined"
    );
    // The missing parents api/x are owned too (create will make them), shallowest first.
    let i_api = p
        .iter()
        .position(|x| x == &t.path("sys/fs/cgroup/memory/api"))
        .unwrap();
    let i_leaf = p
        .iter()
        .position(|x| x == &t.path("sys/fs/cgroup/memory/api/x/ctr"))
        .unwrap();
    assert!(i_api < i_leaf);
    assert_eq!(p.len(), V1_CTRLS.len() + 1 + 2);

    // Absolute: from each mount point, ignoring the own cgroup.
    let cg = open(&root, Some("/moat/a"), "ctr").unwrap();
    assert!(cg.paths().contains(&t.path("sys/fs/cgroup/memory/moat/a")));
    // Relative: below own cgroup.
    let cg = open(&root, Some("moat/a"), "ctr").unwrap();
    assert!(cg
        .paths()
        .contains(&t.path("sys/fs/cgroup/memory/api/x/moat/a")));
    assert!(cg.paths().contains(&t.path("sys/fs/cgroup/pids/moat/a")));

    assert!(matches!(
        open(&root, Some("../../etc"), "c"),
        Err(Error::InvalidPath { .. })
    ));
    let e = open(&root, Some("system.slice:moat:c"), "c").err().unwrap();
    assert!(matches!(e, Error::SystemdPath(_)), "{e}");
}

#[test]
fn create_and_destroy_keep_preexisting_parents() {
    let t = Tmp::new("v1life");
    let root = tree(&t, &v1_mountinfo(&["memory", "pids"], false));
    fs::create_dir_all(t.path("sys/fs/cgroup/memory/shared")).unwrap();
    let cg = open(&root, Some("/shared/sub/ctr"), "x").unwrap();
    let recorded = cg.paths();
    assert!(!recorded.contains(&t.path("sys/fs/cgroup/memory/shared")));
    assert!(
        recorded.contains(&t.path("sys/fs/cgroup/pids/shared")),
        "missing in pids: owned"
    );
    cg.create().unwrap();
    for p in &recorded {
        assert!(p.is_dir(), "{}", p.display());
    }
    cg.create().unwrap(); // idempotent
    cg.destroy().unwrap();
    for p in &recorded {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    assert!(
        t.path("sys/fs/cgroup/memory/shared").is_dir(),
        "pre-existing parent kept"
    );
    cg.destroy().unwrap(); // ENOENT is fine
}

#[test]
fn delete_after_killed_create_uses_recorded_paths() {
    let t = Tmp::new("v1rec");
    let root = tree(&t, &v1_mountinfo(&["memory", "pids"], false));
    let recorded = open(&root, Some("/a/b/ctr"), "x").unwrap().paths();
    open(&root, Some("/a/b/ctr"), "x")
        .unwrap()
        .create()
        .unwrap(); // then "SIGKILL"
                   // A plain reopen owns only the leaves...
    assert_eq!(open(&root, Some("/a/b/ctr"), "x").unwrap().paths().len(), 3); // memory, pids, name=systemd
                                                                              // ...open_recorded owns what was recorded, and ignores anything outside the chain.
    let mut rec = recorded.clone();
    rec.push(t.path("sys/fs/cgroup/memory/other"));
    rec.push(t.0.clone());
    fs::create_dir_all(t.path("sys/fs/cgroup/memory/other")).unwrap();
    let cg = open_recorded(&root, Some("/a/b/ctr"), "x", &rec).unwrap();
    assert_eq!(cg.paths().len(), recorded.len());
    cg.destroy().unwrap();
    assert!(!t.path("sys/fs/cgroup/memory/a").exists());
    assert!(!t.path("sys/fs/cgroup/pids/a").exists());
    assert!(t.path("sys/fs/cgroup/memory/other").exists());
}

#[test]
fn destroy_retries_then_reports_busy_leaf() {
    let t = Tmp::new("v1busy");
    let root = tree(&t, &v1_mountinfo(&["memory"], false));
    let cg = open(&root, Some("/c"), "x").unwrap();
    cg.create().unwrap();
    touch(&t.path("sys/fs/cgroup/memory/c"), &["tasks"]); // stands in for a live task
    let e = cg.destroy().unwrap_err();
    let m = e.to_string();
    assert!(m.starts_with("cgroups: rmdir "), "{m}");
    assert!(
        m.ends_with("/sys/fs/cgroup/memory/c: directory not empty"),
        "{m}"
    );
}

#[test]
fn cpuset_copied_from_parent() {
    let t = Tmp::new("v1cpuset");
    let root = tree(&t, &v1_mountinfo(&["cpuset"], false));
    let m = t.path("sys/fs/cgroup/cpuset");
    put(&m, "cpuset.cpus", "0-3\n");
    put(&m, "cpuset.mems", "0\n");
    // The kernel gives new cpuset dirs empty cpus/mems; emulate for a pre-made chain.
    for d in ["a", "a/b"] {
        fs::create_dir_all(m.join(d)).unwrap();
        touch(&m.join(d), &["cpuset.cpus", "cpuset.mems"]);
    }
    put(&m.join("a"), "cpuset.cpus", "1");
    open(&root, Some("/a/b"), "x").unwrap().create().unwrap();
    assert_eq!(get(&m.join("a"), "cpuset.cpus"), "1", "non-empty kept");
    assert_eq!(get(&m.join("a"), "cpuset.mems"), "0");
    assert_eq!(
        get(&m.join("a/b"), "cpuset.cpus"),
        "1",
        "copied from its parent"
    );
    assert_eq!(get(&m.join("a/b"), "cpuset.mems"), "0");
}

const MEM_FILES: &[&str] = &[
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.oom_control",
    "memory.swappiness",
    "memory.usage_in_bytes",
    "memory.max_usage_in_bytes",
];

fn v1_ctr(t: &Tmp) -> (moat_cgroups::Root, Box<dyn moat_cgroups::Cgroup>) {
    let root = tree(t, &v1_mountinfo(V1_CTRLS, false));
    let cg = open(&root, Some("/c"), "x").unwrap();
    cg.create().unwrap();
    (root, cg)
}

fn leaf(t: &Tmp, ctrl: &str) -> PathBuf {
    t.path(&format!("sys/fs/cgroup/{ctrl}/c"))
}

#[test]
fn memory_v1() {
    let t = Tmp::new("v1mem");
    let (_r, cg) = v1_ctr(&t);
    let d = leaf(&t, "memory");
    touch(&d, MEM_FILES);
    put(&d, "memory.limit_in_bytes", "9223372036854771712");
    cg.apply(&res(
        r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":524288,
        "swappiness":10,"disableOOMKiller":true,"kernel":4096,"kernelTCP":4096}}"#,
    ))
    .unwrap();
    assert_eq!(get(&d, "memory.limit_in_bytes"), "1048576");
    assert_eq!(
        get(&d, "memory.memsw.limit_in_bytes"),
        "2097152",
        "OCI swap is memsw on v1"
    );
    assert_eq!(get(&d, "memory.soft_limit_in_bytes"), "524288");
    assert_eq!(get(&d, "memory.swappiness"), "10");
    assert_eq!(get(&d, "memory.oom_control"), "1");
    assert!(
        !d.join("memory.kmem.limit_in_bytes").exists(),
        "kernel: missing file ignored"
    );

    // limit -1 with swap unset: memsw becomes unlimited too.
    cg.apply(&res(r#"{"memory":{"limit":-1}}"#)).unwrap();
    assert_eq!(get(&d, "memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(get(&d, "memory.limit_in_bytes"), "-1");

    let e = cg
        .apply(&res(r#"{"memory":{"swappiness":101}}"#))
        .unwrap_err();
    assert!(e.to_string().contains("valid range is 0-100"), "{e}");
}

#[test]
fn cpu_v1() {
    let t = Tmp::new("v1cpu");
    let (_r, cg) = v1_ctr(&t);
    let d = leaf(&t, "cpu,cpuacct");
    touch(
        &d,
        &[
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ],
    );
    let s = leaf(&t, "cpuset");
    touch(&s, &["cpuset.cpus", "cpuset.mems"]);
    cg.apply(&res(
        r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"burst":1000,
        "realtimeRuntime":950,"realtimePeriod":1000,"cpus":"0-1","mems":"0","idle":1}}"#,
    ))
    .unwrap();
    for (f, v) in [
        ("cpu.shares", "512"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.rt_runtime_us", "950"),
        ("cpu.rt_period_us", "1000"),
        ("cpu.idle", "1"),
    ] {
        assert_eq!(get(&d, f), v, "{f}");
    }
    assert_eq!(get(&s, "cpuset.cpus"), "0-1");
    assert_eq!(get(&s, "cpuset.mems"), "0");
}

#[test]
fn pids_blkio_hugetlb_net_rdma_devices_v1() {
    let t = Tmp::new("v1misc");
    let (_r, cg) = v1_ctr(&t);
    let p = leaf(&t, "pids");
    touch(&p, &["pids.max"]);
    cg.apply(&res(r#"{"pids":{"limit":-1}}"#)).unwrap();
    assert_eq!(get(&p, "pids.max"), "max");
    cg.apply(&res(r#"{"pids":{"limit":42}}"#)).unwrap();
    assert_eq!(get(&p, "pids.max"), "42");

    let b = leaf(&t, "blkio");
    touch(
        &b,
        &[
            "blkio.weight",
            "blkio.leaf_weight",
            "blkio.weight_device",
            "blkio.leaf_weight_device",
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        ],
    );
    cg.apply(&res(r#"{"blockIO":{"weight":300,"leafWeight":200,
        "weightDevice":[{"major":8,"minor":0,"weight":500,"leafWeight":100}],
        "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],
        "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2000}],
        "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":30}],
        "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":40}]}}"#))
        .unwrap();
    for (f, v) in [
        ("blkio.weight", "300"),
        ("blkio.leaf_weight", "200"),
        ("blkio.weight_device", "8:0 500"),
        ("blkio.leaf_weight_device", "8:0 100"),
        ("blkio.throttle.read_bps_device", "8:0 1000"),
        ("blkio.throttle.write_bps_device", "8:0 2000"),
        ("blkio.throttle.read_iops_device", "8:0 30"),
        ("blkio.throttle.write_iops_device", "8:0 40"),
    ] {
        assert_eq!(get(&b, f), v, "{f}");
    }
    // BFQ: weights go to blkio.bfq.*
    touch(&b, &["blkio.bfq.weight", "blkio.bfq.weight_device"]);
    cg.apply(&res(
        r#"{"blockIO":{"weight":700,"weightDevice":[{"major":8,"minor":16,"weight":600}]}}"#,
    ))
    .unwrap();
    assert_eq!(get(&b, "blkio.bfq.weight"), "700");
    assert_eq!(get(&b, "blkio.bfq.weight_device"), "8:16 600");

    let h = leaf(&t, "hugetlb");
    touch(
        &h,
        &[
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
        ],
    );
    cg.apply(&res(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .unwrap();
    assert_eq!(get(&h, "hugetlb.2MB.limit_in_bytes"), "4194304");
    assert_eq!(get(&h, "hugetlb.2MB.rsvd.limit_in_bytes"), "4194304");
    assert!(cg
        .apply(&res(
            r#"{"hugepageLimits":[{"pageSize":"../../x","limit":1}]}"#
        ))
        .is_err());

    let n = leaf(&t, "net_cls,net_prio");
    touch(&n, &["net_cls.classid", "net_prio.ifpriomap"]);
    cg.apply(&res(
        r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]}}"#,
    ))
    .unwrap();
    assert_eq!(get(&n, "net_cls.classid"), "1048577");
    assert_eq!(get(&n, "net_prio.ifpriomap"), "eth0 5");

    let r = leaf(&t, "rdma");
    touch(&r, &["rdma.max"]);
    cg.apply(&res(
        r#"{"rdma":{"mlx5_0":{"hcaHandles":3,"hcaObjects":10000}}}"#,
    ))
    .unwrap();
    assert_eq!(get(&r, "rdma.max"), "mlx5_0 hca_handle=3 hca_object=10000");

    let dv = leaf(&t, "devices");
    touch(&dv, &["devices.allow", "devices.deny"]);
    cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#)).unwrap();
    assert_eq!(get(&dv, "devices.deny"), "a *:* rwm");
    assert_eq!(get(&dv, "devices.allow"), "c 1:3 rwm");

    let e = cg
        .apply(&res(r#"{"unified":{"memory.high":"1"}}"#))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn missing_controller_and_missing_file_errors() {
    let t = Tmp::new("v1missing");
    let root = tree(&t, &v1_mountinfo(&["memory"], false));
    let cg = open(&root, Some("/c"), "x").unwrap();
    cg.create().unwrap();
    let e = cg.apply(&res(r#"{"pids":{"limit":10}}"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cgroups: cannot set pids.limit: the pids controller is not mounted"
    );
    let e = cg
        .apply(&res(r#"{"memory":{"reservation":10}}"#))
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with("cgroups: open /")
            && m.ends_with(
                "/sys/fs/cgroup/memory/c/memory.soft_limit_in_bytes: no such file or directory"
            ),
        "{m}"
    );
    // An empty resources object writes nothing and needs nothing.
    cg.apply(&res("{}")).unwrap();
}

#[test]
fn add_pid_freezer_and_stats_v1() {
    let t = Tmp::new("v1ops");
    let (_r, cg) = v1_ctr(&t);
    for c in V1_CTRLS.iter().chain(["systemd"].iter()) {
        touch(&leaf(&t, c), &["cgroup.procs"]);
    }
    cg.add_pid(4242).unwrap();
    for c in V1_CTRLS.iter().chain(["systemd"].iter()) {
        assert_eq!(get(&leaf(&t, c), "cgroup.procs"), "4242", "{c}");
    }
    assert_eq!(cg.pids().unwrap(), vec![4242]);

    let f = leaf(&t, "freezer");
    put(&f, "freezer.state", "THAWED\n");
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);
    cg.freeze().unwrap();
    assert_eq!(get(&f, "freezer.state"), "FROZEN");
    assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
    cg.thaw().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);

    let c = leaf(&t, "cpu,cpuacct");
    put(&c, "cpuacct.usage", "5000\n");
    put(&c, "cpuacct.usage_percpu", "3000 2000 \n");
    put(&c, "cpuacct.stat", "user 2\nsystem 1\n");
    put(
        &c,
        "cpu.stat",
        "nr_periods 10\nnr_throttled 2\nthrottled_time 900\n",
    );
    let m = leaf(&t, "memory");
    put(&m, "memory.stat", "cache 4096\nrss 8192\n");
    put(&m, "memory.limit_in_bytes", "1048576\n");
    put(&m, "memory.usage_in_bytes", "12288\n");
    put(&m, "memory.max_usage_in_bytes", "20000\n");
    put(&m, "memory.failcnt", "3\n");
    let p = leaf(&t, "pids");
    put(&p, "pids.current", "1\n");
    put(&p, "pids.max", "max\n");
    put(
        &leaf(&t, "blkio"),
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 100\n8:0 Write 200\nTotal 300\n",
    );
    put(&leaf(&t, "hugetlb"), "hugetlb.2MB.limit_in_bytes", "0\n");
    put(
        &leaf(&t, "hugetlb"),
        "hugetlb.2MB.usage_in_bytes",
        "2097152\n",
    );
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 5000);
    assert_eq!(s.cpu.usage.percpu, vec![3000, 2000]);
    assert_eq!(s.cpu.usage.user, 20_000_000);
    assert_eq!(s.cpu.usage.kernel, 10_000_000);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.memory.cache, 4096);
    assert_eq!(s.memory.usage.limit, 1048576);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 0);
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.hugetlb["2MB"].usage, 2097152);
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(j["blkio"]["ioServiceBytesRecursive"][1]["op"], "Write");
    assert!(cg.v2_dir_fd().is_none(), "pure v1: no cgroup2 leaf");
}

#[test]
fn hybrid_joins_unified_without_resources() {
    let t = Tmp::new("hybrid");
    let root = tree(&t, &v1_mountinfo(&["memory", "pids", "freezer"], true));
    assert_eq!(root.layout(), Layout::Hybrid);
    let cg = open(&root, None, "ctr").unwrap();
    let u = t.path("sys/fs/cgroup/unified/ctr");
    assert!(cg.paths().contains(&u));
    cg.create().unwrap();
    assert!(u.is_dir());
    for c in ["memory", "pids", "freezer", "systemd", "unified"] {
        touch(
            &t.path(&format!("sys/fs/cgroup/{c}/ctr")),
            &["cgroup.procs"],
        );
    }
    touch(
        &t.path("sys/fs/cgroup/memory/ctr"),
        &["memory.limit_in_bytes"],
    );
    cg.add_pid(7).unwrap();
    assert_eq!(get(&u, "cgroup.procs"), "7");
    cg.apply(&res(r#"{"memory":{"limit":4096}}"#)).unwrap();
    assert_eq!(
        get(&t.path("sys/fs/cgroup/memory/ctr"), "memory.limit_in_bytes"),
        "4096"
    );
    assert!(
        !u.join("memory.max").exists(),
        "no v2 resource writes on hybrid"
    );
    // The unified leaf, for clone3(CLONE_INTO_CGROUP).
    let fd = cg.v2_dir_fd().expect("hybrid: the unified leaf's fd");
    let (a, b) = (
        std::fs::metadata(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap(),
        std::fs::metadata(&u).unwrap(),
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    drop(fd);
    for c in ["memory", "pids", "freezer", "systemd", "unified"] {
        strip_files(&t.path(&format!("sys/fs/cgroup/{c}/ctr")));
    }
    cg.destroy().unwrap();
    assert!(!u.exists());
    assert!(!t.path("sys/fs/cgroup/memory/ctr").exists());
}
