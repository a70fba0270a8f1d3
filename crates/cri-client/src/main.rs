//! `moat-cri`: the CRI v1 calls kubelet makes to start, exec into, and tear
//! down a pod, one subcommand each, against a CRI endpoint (containerd's
//! unix socket). Made for tests/stack/cri.sh (crictl is not packaged in
//! Debian): every subcommand prints a plain result on stdout (an id, a
//! state, the exec's own output) and exits 0, or prints `moat-cri: CALL
//! (context): gRPC code: message` on stderr and exits 1. `exec` exits with
//! the command's own exit code, as `crictl exec -s` does.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Parser)]
#[command(
    name = "moat-cri",
    version,
    about = "Minimal CRI v1 client (kubelet's pod lifecycle calls)"
)]
struct Cli {
    /// CRI endpoint, as kubelet's --container-runtime-endpoint: unix:///path or a socket path.
    #[arg(
        long,
        env = "CRI_ENDPOINT",
        default_value = "unix:///run/containerd/containerd.sock"
    )]
    endpoint: String,
    /// Deadline for each call, in seconds (connect included).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What identifies a pod; RunPodSandbox and CreateContainer both need the
/// whole PodSandboxConfig (kubelet resends it), so it is rebuilt from these.
#[derive(clap::Args, Clone)]
struct PodArgs {
    /// Pod name (metadata.name).
    #[arg(long)]
    pod_name: String,
    /// Pod UID (metadata.uid); default: the name.
    #[arg(long)]
    pod_uid: Option<String>,
    /// Pod namespace (metadata.namespace).
    #[arg(long, default_value = "default")]
    pod_namespace: String,
    /// Linux cgroup parent of the pod (cgroupfs driver: a path such as /kubepods/podUID).
    #[arg(long, default_value = "")]
    cgroup_parent: String,
    /// Directory for container logs (log_directory); default: none.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Use the pod network namespace instead of the host's (needs CNI).
    #[arg(long)]
    pod_network: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version: prints "RUNTIME_NAME RUNTIME_VERSION CRI_API_VERSION".
    Version,
    /// RunPodSandbox with a runtime handler; prints the pod sandbox id.
    Runp {
        /// RuntimeClass handler (a runtime name in containerd's CRI config), e.g. moat, runc.
        #[arg(long)]
        handler: String,
        #[command(flatten)]
        pod: PodArgs,
    },
    /// CreateContainer in a pod; prints the container id.
    Create {
        /// Pod sandbox id (from runp).
        pod_id: String,
        #[command(flatten)]
        pod: PodArgs,
        /// Container name (metadata.name).
        #[arg(long)]
        name: String,
        /// Image reference, already present in the runtime's image store.
        #[arg(long)]
        image: String,
        /// Environment, KEY=VALUE (repeatable).
        #[arg(long = "env")]
        envs: Vec<String>,
        /// Command and arguments (ContainerConfig.command).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// StartContainer.
    Start { container_id: String },
    /// ExecSync: relays the command's stdout/stderr and exits with its exit code.
    Exec {
        container_id: String,
        /// Seconds the runtime gives the command (0: none).
        #[arg(long = "exec-timeout", default_value_t = 0)]
        exec_timeout: i64,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// ContainerStatus: prints "STATE EXIT_CODE REASON" (e.g. "CONTAINER_EXITED 3 Error").
    Status { container_id: String },
    /// StopContainer (SIGTERM, then SIGKILL after the grace period).
    Stop {
        container_id: String,
        /// Grace period in seconds.
        #[arg(long = "grace", default_value_t = 10)]
        grace: i64,
    },
    /// RemoveContainer.
    Rm { container_id: String },
    /// PodSandboxStatus: prints "STATE" (SANDBOX_READY / SANDBOX_NOTREADY).
    Inspectp { pod_id: String },
    /// StopPodSandbox (stops its containers too).
    Stopp { pod_id: String },
    /// RemovePodSandbox (removes its containers too).
    Rmp { pod_id: String },
    /// ListPodSandbox: one id per line.
    Pods,
    /// ListContainers: "ID POD_ID STATE" per line.
    Ps,
}

/// `unix:///run/x.sock` or `/run/x.sock` -> the socket path. Anything else
/// (tcp, npipe) is refused: kubelet on Linux talks to the runtime over a
/// unix socket and so does this client.
fn socket_path(endpoint: &str) -> Result<PathBuf> {
    let path = match endpoint.strip_prefix("unix://") {
        Some(p) => p,
        None if endpoint.starts_with('/') => endpoint,
        None => {
            bail!("endpoint {endpoint:?}: only unix:///path (or /path) endpoints are supported")
        }
    };
    if !path.starts_with('/') {
        bail!("endpoint {endpoint:?}: the socket path must be absolute");
    }
    Ok(PathBuf::from(path))
}

/// Dial the socket the way kubelet does: HTTP/2 over the unix stream, the
/// URI's authority ignored (grpc-go uses "localhost").
async fn connect(endpoint: &str, timeout: Duration) -> Result<RuntimeServiceClient<Channel>> {
    let path = socket_path(endpoint)?;
    let dial = path.clone();
    let channel = Endpoint::from_static("http://localhost")
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = dial.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?))
            }
        }))
        .await
        .with_context(|| format!("connect to CRI endpoint {}", path.display()))?;
    Ok(RuntimeServiceClient::new(channel))
}

/// "CALL (what): code: message" for a failed gRPC call.
fn rpc_err(call: &str, what: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{call} ({what}): {:?}: {}", s.code(), s.message())
}

/// Namespaces as kubelet sets them for a pod without shareProcessNamespace:
/// network the node's (hostNetwork) or the pod's, pid per container, ipc the pod's.
/// Sent both in the pod's and in each container's security context.
fn namespaces(p: &PodArgs) -> cri::NamespaceOption {
    let network = if p.pod_network {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Node
    };
    cri::NamespaceOption {
        network: network as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn pod_config(p: &PodArgs) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: p.pod_name.clone(),
            uid: p.pod_uid.clone().unwrap_or_else(|| p.pod_name.clone()),
            namespace: p.pod_namespace.clone(),
            attempt: 0,
        }),
        // kubelet sends no hostname for a host-network pod: it has the
        // node's UTS namespace, where a runtime may not set one.
        hostname: if p.pod_network {
            p.pod_name.clone()
        } else {
            String::new()
        },
        log_directory: p
            .log_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: p.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(p)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn state_name<E: TryFrom<i32>>(v: i32, name: impl Fn(E) -> &'static str) -> String {
    E::try_from(v)
        .map(name)
        .map(str::to_owned)
        .unwrap_or_else(|_| format!("STATE_{v}"))
}

async fn run(cli: Cli) -> Result<i32> {
    let mut c = connect(&cli.endpoint, Duration::from_secs(cli.timeout)).await?;
    let mut out = std::io::stdout().lock();
    match cli.cmd {
        Cmd::Version => {
            let v = c
                .version(cri::VersionRequest {
                    version: "v1".into(),
                })
                .await
                .map_err(|s| rpc_err("Version", &cli.endpoint, s))?
                .into_inner();
            writeln!(
                out,
                "{} {} {}",
                v.runtime_name, v.runtime_version, v.runtime_api_version
            )?;
        }
        Cmd::Runp { handler, pod } => {
            let r = c
                .run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(pod_config(&pod)),
                    runtime_handler: handler.clone(),
                })
                .await
                .map_err(|s| {
                    rpc_err(
                        "RunPodSandbox",
                        &format!("pod {}, handler {handler}", pod.pod_name),
                        s,
                    )
                })?
                .into_inner();
            writeln!(out, "{}", r.pod_sandbox_id)?;
        }
        Cmd::Create {
            pod_id,
            pod,
            name,
            image,
            envs,
            command,
        } => {
            let envs = envs
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => Ok(cri::KeyValue {
                        key: k.into(),
                        value: v.into(),
                    }),
                    None => bail!("--env {kv:?}: expected KEY=VALUE"),
                })
                .collect::<Result<Vec<_>>>()?;
            let config = cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: name.clone(),
                    attempt: 0,
                }),
                image: Some(cri::ImageSpec {
                    image: image.clone(),
                    ..Default::default()
                }),
                command,
                envs,
                log_path: if pod.log_dir.is_some() {
                    format!("{name}.log")
                } else {
                    String::new()
                },
                labels: HashMap::new(),
                linux: Some(cri::LinuxContainerConfig {
                    security_context: Some(cri::LinuxContainerSecurityContext {
                        namespace_options: Some(namespaces(&pod)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let r = c
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: pod_id.clone(),
                    config: Some(config),
                    sandbox_config: Some(pod_config(&pod)),
                })
                .await
                .map_err(|s| {
                    rpc_err(
                        "CreateContainer",
                        &format!("{name} in pod {pod_id}, image {image}"),
                        s,
                    )
                })?
                .into_inner();
            writeln!(out, "{}", r.container_id)?;
        }
        Cmd::Start { container_id } => {
            c.start_container(cri::StartContainerRequest {
                container_id: container_id.clone(),
            })
            .await
            .map_err(|s| rpc_err("StartContainer", &container_id, s))?;
        }
        Cmd::Exec {
            container_id,
            exec_timeout,
            cmd,
        } => {
            let r = c
                .exec_sync(cri::ExecSyncRequest {
                    container_id: container_id.clone(),
                    cmd,
                    timeout: exec_timeout,
                })
                .await
                .map_err(|s| rpc_err("ExecSync", &container_id, s))?
                .into_inner();
            out.write_all(&r.stdout)?;
            out.flush()?;
            std::io::stderr().write_all(&r.stderr)?;
            return Ok(r.exit_code);
        }
        Cmd::Status { container_id } => {
            let st = c
                .container_status(cri::ContainerStatusRequest {
                    container_id: container_id.clone(),
                    verbose: false,
                })
                .await
                .map_err(|s| rpc_err("ContainerStatus", &container_id, s))?
                .into_inner()
                .status
                .with_context(|| {
                    format!("ContainerStatus ({container_id}): the runtime returned no status")
                })?;
            let state = state_name(st.state, |s: cri::ContainerState| s.as_str_name());
            writeln!(out, "{state} {} {}", st.exit_code, st.reason)?;
        }
        Cmd::Stop {
            container_id,
            grace,
        } => {
            c.stop_container(cri::StopContainerRequest {
                container_id: container_id.clone(),
                timeout: grace,
            })
            .await
            .map_err(|s| rpc_err("StopContainer", &container_id, s))?;
        }
        Cmd::Rm { container_id } => {
            c.remove_container(cri::RemoveContainerRequest {
                container_id: container_id.clone(),
            })
            .await
            .map_err(|s| rpc_err("RemoveContainer", &container_id, s))?;
        }
        Cmd::Inspectp { pod_id } => {
            let st = c
                .pod_sandbox_status(cri::PodSandboxStatusRequest {
                    pod_sandbox_id: pod_id.clone(),
                    verbose: false,
                })
                .await
                .map_err(|s| rpc_err("PodSandboxStatus", &pod_id, s))?
                .into_inner()
                .status
                .with_context(|| {
                    format!("PodSandboxStatus ({pod_id}): the runtime returned no status")
                })?;
            writeln!(
                out,
                "{}",
                state_name(st.state, |s: cri::PodSandboxState| s.as_str_name())
            )?;
        }
        Cmd::Stopp { pod_id } => {
            c.stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            })
            .await
            .map_err(|s| rpc_err("StopPodSandbox", &pod_id, s))?;
        }
        Cmd::Rmp { pod_id } => {
            c.remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            })
            .await
            .map_err(|s| rpc_err("RemovePodSandbox", &pod_id, s))?;
        }
        Cmd::Pods => {
            let r = c
                .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
                .await
                .map_err(|s| rpc_err("ListPodSandbox", &cli.endpoint, s))?
                .into_inner();
            for p in r.items {
                writeln!(out, "{}", p.id)?;
            }
        }
        Cmd::Ps => {
            let r = c
                .list_containers(cri::ListContainersRequest { filter: None })
                .await
                .map_err(|s| rpc_err("ListContainers", &cli.endpoint, s))?
                .into_inner();
            for ct in r.containers {
                let state = state_name(ct.state, |s: cri::ContainerState| s.as_str_name());
                writeln!(out, "{} {} {state}", ct.id, ct.pod_sandbox_id)?;
            }
        }
    }
    Ok(0)
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moat-cri: start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("moat-cri: {e:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            socket_path("unix:///run/c.sock").unwrap(),
            PathBuf::from("/run/c.sock")
        );
        assert_eq!(
            socket_path("/run/c.sock").unwrap(),
            PathBuf::from("/run/c.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:1").is_err());
        assert!(socket_path("unix://relative.sock").is_err());
    }

    #[test]
    fn pod_on_host_network_unless_asked() {
        let p = PodArgs {
            pod_name: "p".into(),
            pod_uid: None,
            pod_namespace: "ns".into(),
            cgroup_parent: "/x".into(),
            log_dir: None,
            pod_network: false,
        };
        let c = pod_config(&p);
        let ns = c
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(ns.network, cri::NamespaceMode::Node as i32);
        assert_eq!(c.metadata.unwrap().uid, "p");
        assert_eq!(c.hostname, "", "no hostname in the node's UTS namespace");
    }

    #[test]
    fn cli_parses_create_with_pod_and_container_names() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "moat-cri",
            "create",
            "POD",
            "--pod-name",
            "p",
            "--name",
            "c",
            "--image",
            "i",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Create {
                pod, name, command, ..
            } => {
                assert_eq!((pod.pod_name.as_str(), name.as_str()), ("p", "c"));
                assert_eq!(command, ["sh", "-c", "exit 3"]);
            }
            _ => panic!("not create"),
        }
    }
}
