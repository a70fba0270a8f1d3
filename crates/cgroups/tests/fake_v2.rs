//! Layer 2: pure cgroup v2 over a fake tree.

mod common;

use std::fs;

use common::*;
use moat_cgroups::{open, Error, FreezerState, Layout, LinuxResources};

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

const FILES: &[&str] = &[
    "cgroup.procs",
    "cgroup.freeze",
    "pids.max",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "io.weight",
    "io.max",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "hugetlb.2MB.max",
    "rdma.max",
    "memory.high",
];

#[test]
fn v2_paths_create_and_subtree_control() {
    let t = Tmp::new("v2life");
    let mut root = tree(&t, V2_MOUNTINFO);
    assert_eq!(root.layout(), Layout::V2);
    root.set_self_cgroup("0::/runtime\n").unwrap();
    let m = t.path("sys/fs/cgroup");
    put(&m, "cgroup.controllers", "cpuset cpu io memory pids\n");
    touch(&m, &["cgroup.subtree_control"]);
    fs::create_dir(m.join("runtime")).unwrap();
    put(
        &m.join("runtime"),
        "cgroup.controllers",
        "cpu memory pids\n",
    );
    touch(&m.join("runtime"), &["cgroup.subtree_control"]);

    let cg = open(&root, None, "ctr").unwrap();
    assert_eq!(cg.paths(), vec![m.join("runtime/ctr")]);
    let cg = open(&root, Some("/pod/ctr"), "x").unwrap();
    assert_eq!(cg.paths(), vec![m.join("pod"), m.join("pod/ctr")]);
    cg.create().unwrap();
    assert_eq!(
        get(&m, "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +pids"
    );
    assert!(
        !m.join("pod/ctr/cgroup.subtree_control").exists(),
        "leaf untouched"
    );
    let fd = cg.v2_dir_fd().expect("dir fd");
    drop(fd);
    strip_files(&m.join("pod"));
    cg.destroy().unwrap();
    assert!(!m.join("pod").exists());
    assert!(m.join("runtime").exists());
}

fn v2_ctr(t: &Tmp) -> (std::path::PathBuf, Box<dyn moat_cgroups::Cgroup>) {
    let root = tree(t, V2_MOUNTINFO);
    let cg = open(&root, Some("/c"), "x").unwrap();
    cg.create().unwrap();
    let d = t.path("sys/fs/cgroup/c");
    touch(&d, FILES);
    (d, cg)
}

#[test]
fn v2_resources_with_runc_conversions() {
    let t = Tmp::new("v2res");
    let (d, cg) = v2_ctr(&t);
    cg.apply(&res(r#"{
        "pids":{"limit":100},
        "memory":{"limit":1048576,"swap":3145728,"reservation":4096,"swappiness":10,"disableOOMKiller":true},
        "blockIO":{"weight":500,"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":40}]},
        "cpu":{"shares":1024,"quota":50000,"period":100000,"burst":10,"idle":0,"cpus":"0","mems":"0"},
        "hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
        "rdma":{"mlx4_0":{"hcaHandles":2}},
        "unified":{"memory.high":"900000"}}"#))
        .unwrap();
    for (f, v) in [
        ("pids.max", "100"),
        ("memory.max", "1048576"),
        ("memory.swap.max", "2097152"), // memsw - limit
        ("memory.low", "4096"),
        ("io.weight", "4950"), // 1 + (500-10)*9999/990
        ("io.max", "8:0 wiops=40"),
        ("cpu.weight", "39"), // 1 + (1024-2)*9999/262142
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "10"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", "0"),
        ("hugetlb.2MB.max", "2097152"),
        ("rdma.max", "mlx4_0 hca_handle=2"),
        ("memory.high", "900000"),
    ] {
        assert_eq!(get(&d, f), v, "{f}");
    }
    // swap == limit: no swap; limit -1: both max; quota -1: max with the old period.
    cg.apply(&res(
        r#"{"memory":{"limit":4096,"swap":4096},"cpu":{"quota":-1}}"#,
    ))
    .unwrap();
    assert_eq!(get(&d, "memory.swap.max"), "0");
    assert_eq!(get(&d, "cpu.max"), "max");
    cg.apply(&res(r#"{"memory":{"limit":-1}}"#)).unwrap();
    assert_eq!(get(&d, "memory.swap.max"), "max");
    assert_eq!(get(&d, "memory.max"), "max");
    let e = cg
        .apply(&res(r#"{"memory":{"limit":4096,"swap":100}}"#))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("memory+swap limit should be >= memory limit"),
        "{e}"
    );
    // BFQ takes the v1 weight as is.
    touch(&d, &["io.bfq.weight"]);
    cg.apply(&res(r#"{"blockIO":{"weight":500}}"#)).unwrap();
    assert_eq!(get(&d, "io.bfq.weight"), "500");
}

#[test]
fn v2_refusals() {
    let t = Tmp::new("v2no");
    let (_d, cg) = v2_ctr(&t);
    // Device rules become an eBPF program: a fake (tmpfs) dir cannot take one, and the
    // error names the step and the dir. Bad rules are refused before any syscall.
    let e = cg
        .apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("device eBPF program"),
        "{e}"
    );
    let e = cg
        .apply(&res(r#"{"devices":[{"allow":true,"type":"p"}]}"#))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    let e = cg
        .apply(&res(r#"{"cpu":{"realtimeRuntime":100}}"#))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(cg.apply(&res(r#"{"unified":{"../../x.y":"1"}}"#)).is_err());
    assert!(cg
        .apply(&res(r#"{"unified":{"cgroup.procs":"1"}}"#))
        .is_err());
}

#[test]
fn v2_freezer_pids_stats() {
    let t = Tmp::new("v2ops");
    let (d, cg) = v2_ctr(&t);
    cg.add_pid(99).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![99]);
    put(&d, "cgroup.events", "populated 1\nfrozen 1\n");
    cg.freeze().unwrap();
    assert_eq!(get(&d, "cgroup.freeze"), "1");
    assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
    cg.thaw().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);

    put(&d, "cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n");
    put(&d, "memory.stat", "anon 100\nfile 200\n");
    put(&d, "memory.current", "300\n");
    put(&d, "memory.max", "max\n");
    put(&d, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\n");
    put(&d, "memory.swap.current", "10\n");
    put(&d, "memory.swap.max", "1000\n");
    put(&d, "pids.current", "2\n");
    put(&d, "pids.max", "100\n");
    put(
        &d,
        "io.stat",
        "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    put(&d, "hugetlb.2MB.current", "0\n");
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 10_000);
    assert_eq!(s.cpu.usage.kernel, 4_000);
    assert_eq!(s.cpu.throttling.throttled_time, 7_000);
    assert_eq!(s.memory.cache, 200);
    assert_eq!(s.memory.usage.usage, 300);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.failcnt, 5);
    assert_eq!(s.memory.swap.usage, 310);
    assert_eq!(s.pids.limit, 100);
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
    assert!(s.hugetlb.contains_key("2MB"));
}
