//! `idmap` / `ridmap` bind mounts: the source is seen through the
//! container's user namespace, so host root's files are the container
//! root's. moat-only (runc 1.1 has no id-mapped mounts); the same mount
//! without `idmap` is the control.

mod common;

use common::*;
use serde_json::json;

fn userns_bundle(opts: &[&str], data: &std::path::Path) -> Bundle {
    let data = data.to_path_buf();
    let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    Bundle::new(move |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": data, "options": opts
        }));
        c["process"]["args"] = json!(["sh", "-c",
            "stat -c %u /data/owned-by-host-root; touch /data/new 2>/dev/null && echo wrote || echo denied"]);
    })
}

#[test]
fn idmap_bind_shows_host_root_as_container_root() {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return;
    }
    let data = TempDir::new("idmap-data");
    std::fs::write(data.path().join("owned-by-host-root"), "x").unwrap();
    let rt = Runtime::moat();
    for (opts, uid, wrote) in [
        (&["rbind", "idmap"][..], "0", "wrote"),
        (&["rbind", "ridmap"][..], "0", "wrote"),
        // Control: a plain bind shows host root as the overflow id.
        (&["rbind"][..], "65534", "denied"),
    ] {
        let _ = std::fs::remove_file(data.path().join("new"));
        let bundle = userns_bundle(opts, data.path());
        // The mapped root cannot create it in a host-root-owned rootfs.
        std::fs::create_dir_all(bundle.rootfs().join("data")).unwrap();
        let id = unique_id("idmap");
        let out = rt.run(&bundle, &id);
        assert_eq!(out.code(), Some(0), "{opts:?}: {}", out.describe());
        let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
        assert_eq!(
            lines,
            vec![uid.to_string(), wrote.to_string()],
            "{opts:?}: {}",
            out.describe()
        );
        if wrote == "wrote" {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(data.path().join("new")).unwrap();
            assert_eq!(
                m.uid(),
                0,
                "written through the id-mapped mount as host root"
            );
        }
        assert_nothing_left(&rt, &bundle, &id);
    }
}

#[test]
fn idmap_without_user_namespace_is_a_clear_error() {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return;
    }
    let data = TempDir::new("idmap-nouserns");
    let bundle = Bundle::new(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": data.path(), "options": ["rbind", "idmap"]
        }));
    });
    let rt = Runtime::moat();
    let id = unique_id("idmap-err");
    let out = rt.create(&bundle, &id);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr_str().contains("idmap needs"),
        "{}",
        out.describe()
    );
    assert_nothing_left(&rt, &bundle, &id);
}
