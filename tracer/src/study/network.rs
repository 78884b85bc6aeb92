//! The private network of a network benchmark: a server namespace of the study's own with an
//! iperf3 server listening in it, and the platform's end of the link, either a veth pair whose
//! other end is in a client namespace (bare processes, containers, gVisor) or a tap device in
//! the server namespace that a VM's virtio-net is attached to (QEMU). Dropping the network
//! deletes the namespaces, and with them the veth pair or the tap; the server is killed with
//! its cgroup.
//!
//! The addresses are from 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks, and
//! exist only inside these namespaces: the host's interfaces are never touched, and two studies
//! at once cannot clash (their namespaces have different names).
use std::{
    ffi::OsString,
    net::Ipv4Addr,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader},
    process::Child,
};

use crate::{cgroup::OwnedCgroup, child};

/// The server's address, on its end of the link.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
/// The platform's address, on its end of the link.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
/// Prefix length of the link's subnet: the two addresses above.
pub const PREFIX: u8 = 30;
/// The tap device's name, in the server namespace.
pub const TAP: &str = "ktrace-tap";
/// How long the iperf3 server may take to listen.
const SERVER_START: Duration = Duration::from_secs(10);

/// The platform's end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A veth pair into a client namespace that the platform's processes join.
    Veth,
    /// A tap device in the server namespace that the VM's virtual NIC is attached to.
    Tap,
}

/// A network namespace this study created (`ip netns add`), deleted on drop.
#[derive(Debug)]
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(name: String) -> anyhow::Result<Self> {
        ip(&["netns", "add", &name])?;
        let namespace = Self { name };
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            eprintln!("ktrace: warning: could not delete network namespace {}: {e:#}", self.name);
        }
    }
}

/// A benchmark's private network, with an iperf3 server listening at [`SERVER`].
#[derive(Debug)]
pub struct Network {
    /// Held to be killed on drop, before the namespaces go (fields drop in order).
    _server: Child,
    server_ns: Namespace,
    client_ns: Option<Namespace>,
}

impl Network {
    /// Creates the namespaces `<name>-srv` (and `<name>-cli` for a veth link) and the link,
    /// and starts the iperf3 server in `servers`, a cgroup that is not traced.
    pub async fn start(name: &str, link: Link, servers: &OwnedCgroup) -> anyhow::Result<Self> {
        let server_ns = Namespace::create(format!("{name}-srv"))?;
        let server_address = format!("{SERVER}/{PREFIX}");
        let client_ns = match link {
            Link::Veth => {
                let client_ns = Namespace::create(format!("{name}-cli"))?;
                // Created in the namespaces directly: the names never exist in the host's.
                ip(&[
                    "link",
                    "add",
                    "ktrace-srv",
                    "netns",
                    &server_ns.name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "ktrace-cli",
                    "netns",
                    &client_ns.name,
                ])?;
                ip(&["-n", &server_ns.name, "addr", "add", &server_address, "dev", "ktrace-srv"])?;
                ip(&["-n", &server_ns.name, "link", "set", "ktrace-srv", "up"])?;
                let client_address = format!("{CLIENT}/{PREFIX}");
                ip(&["-n", &client_ns.name, "addr", "add", &client_address, "dev", "ktrace-cli"])?;
                ip(&["-n", &client_ns.name, "link", "set", "ktrace-cli", "up"])?;
                Some(client_ns)
            }
            Link::Tap => {
                ip(&["-n", &server_ns.name, "tuntap", "add", "dev", TAP, "mode", "tap"])?;
                ip(&["-n", &server_ns.name, "addr", "add", &server_address, "dev", TAP])?;
                ip(&["-n", &server_ns.name, "link", "set", TAP, "up"])?;
                None
            }
        };
        let server = start_server(&server_ns, servers).await?;
        Ok(Self { _server: server, server_ns, client_ns })
    }

    /// The namespace the platform's processes join: the client's for a veth link, the
    /// server's for a tap (QEMU opens the tap there).
    pub fn platform_namespace(&self) -> PathBuf {
        self.client_ns.as_ref().unwrap_or(&self.server_ns).path()
    }
}

/// `iperf3 --server --one-off` in `namespace`, joined to `cgroup`; returns once it listens.
async fn start_server(namespace: &Namespace, cgroup: &OwnedCgroup) -> anyhow::Result<Child> {
    let argv = [
        "nsenter".to_owned(),
        format!("--net={}", namespace.path().display()),
        "iperf3".to_owned(),
        "--server".to_owned(),
        "--one-off".to_owned(),
        "--forceflush".to_owned(),
        "--bind".to_owned(),
        SERVER.to_string(),
    ]
    .map(OsString::from);
    let mut command = child::command(&argv)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut server =
        child::spawn_command_in(cgroup, None, command).context("cannot start the iperf3 server")?;
    let stdout = server.stdout.take().context("iperf3 server stdout")?;
    let mut stderr = server.stderr.take().context("iperf3 server stderr")?;
    let mut lines = BufReader::new(stdout).lines();
    let listening = async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("Server listening") {
                return Ok(true);
            }
        }
        Ok::<_, std::io::Error>(false)
    };
    match tokio::time::timeout(SERVER_START, listening).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            let mut why = String::new();
            let _ = stderr.read_to_string(&mut why).await;
            bail!("the iperf3 server exited before it listened: {}", why.trim());
        }
        Ok(Err(e)) => return Err(e).context("reading the iperf3 server's output"),
        Err(_) => bail!("the iperf3 server did not listen within {} s", SERVER_START.as_secs()),
    }
    // Read on, or the server would die of SIGPIPE at its next report line.
    tokio::spawn(async move {
        while let Ok(Some(_)) = lines.next_line().await {}
        let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
    });
    Ok(server)
}

/// Runs iproute2's `ip ARGS` (not busybox's, which has no namespaces), failing with its
/// error output.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(tracer_images::program::find("ip")?)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip (package iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
