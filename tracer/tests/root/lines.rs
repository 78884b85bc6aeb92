//! Root tests of source line counting (`--lines`): the seed study's `is_skb_forwardable`
//! lines, counted in every inlined copy from a ping of exactly known packets.
//!
//! Counting lines needs kprobes and the running kernel's DWARF: these tests run in the 6.12
//! guest, which mounts Debian's debug image and the kernel's source files on /usr/lib/debug
//! (`cargo xtask test`). Elsewhere they say so and pass without running, except the error
//! test, which runs everywhere.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use crate::{
    functions::{assert_clean_kernel, ping_over_veth},
    support::{
        Ktrace, Test, TestCgroups, expect_error, ktrace, last_report, spawn_in, wait_timeout,
    },
};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        ("lines_count_every_copy_exactly_per_cgroup", lines_count_every_copy_exactly_per_cgroup),
        (
            "lines_dry_run_names_copies_and_a_wrappers_body",
            lines_dry_run_names_copies_and_a_wrappers_body,
        ),
        ("lines_refuse_what_they_cannot_count", lines_refuse_what_they_cannot_count),
        ("line_hits_in_interrupts_are_kept_apart", line_hits_in_interrupts_are_kept_apart),
    ]
}

/// Where the guest's debug disk puts the kernel's source files.
const SOURCE: &str = "/usr/lib/debug/source";

/// The function holding `is_skb_forwardable`'s body on Debian's 6.12 kernel.
const BODY: &str = "__is_skb_forwardable";

/// The running kernel's DWARF image where Debian's -dbg package puts it, if there is one
/// and the kernel can trace functions; says why not otherwise.
fn dwarf_image() -> anyhow::Result<Option<PathBuf>> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")?.trim().to_owned();
    let image = PathBuf::from(format!("/usr/lib/debug/boot/vmlinux-{release}"));
    if !image.is_file() {
        eprintln!("skipped: no DWARF image of {release} (the 6.12 guest mounts one)");
        return Ok(None);
    }
    if !Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        bail!("{release} has its DWARF image here but no kprobes");
    }
    if !Path::new("/usr/bin/ip").exists() {
        bail!("no iproute2 ip here (the guests have it)");
    }
    Ok(Some(image))
}

/// Two network namespaces joined by a veth pair with fixed addresses and neighbours, IPv6
/// off: the only packets on it are the pings the test sends. Removed on drop.
struct VethPair {
    /// The pinging side, and the side answering.
    a: String,
    b: String,
    /// The devices in `a` and `b`.
    dev_a: String,
}

/// Addresses from the 198.18.4.0/24 range these tests own.
const ADDRESS_A: &str = "198.18.4.1";
const ADDRESS_B: &str = "198.18.4.2";

impl VethPair {
    fn new() -> anyhow::Result<Self> {
        let id = std::process::id();
        let pair =
            Self { a: format!("ktl-a-{id}"), b: format!("ktl-b-{id}"), dev_a: format!("ktla{id}") };
        let dev_b = format!("ktlb{id}");
        ip(&["netns", "add", &pair.a])?;
        ip(&["netns", "add", &pair.b])?;
        for ns in [&pair.a, &pair.b] {
            // No router solicitations, neighbour discovery or MLD reports on the pair.
            pair.in_netns(
                ns,
                &[
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && \
                     echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
                ],
            )?;
        }
        ip(&[
            "link",
            "add",
            &pair.dev_a,
            "address",
            "02:00:c6:12:04:01",
            "netns",
            &pair.a,
            "type",
            "veth",
            "peer",
            "name",
            &dev_b,
            "address",
            "02:00:c6:12:04:02",
            "netns",
            &pair.b,
        ])?;
        for (ns, dev, address, peer, peer_mac) in [
            (&pair.a, &pair.dev_a, ADDRESS_A, ADDRESS_B, "02:00:c6:12:04:02"),
            (&pair.b, &dev_b, ADDRESS_B, ADDRESS_A, "02:00:c6:12:04:01"),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{address}/24"), "dev", dev])?;
            // No ARP either.
            ip(&[
                "-n",
                ns,
                "neigh",
                "add",
                peer,
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(pair)
    }

    fn in_netns(&self, ns: &str, command: &[&str]) -> anyhow::Result<()> {
        let status = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{ns}"))
            .args(command)
            .status()
            .context("running nsenter")?;
        ensure!(status.success(), "{command:?} in {ns}: {status}");
        Ok(())
    }

    /// `count` pings of `size` bytes of payload from `a` to `b`, from the cgroup at `cgroup`.
    fn ping(
        &self,
        cgroup: &Path,
        count: u32,
        size: u32,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/var/run/netns/{}", self.a))
            .args(["ping", "-q", "-c", &count.to_string(), "-s", &size.to_string()])
            .args(["-i", "0.05", "-W", "1", ADDRESS_B])
            .stdout(Stdio::null());
        let mut child = spawn_in(cgroup, &mut cmd);
        wait_timeout(&mut child, Duration::from_secs(60))
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the pair, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("/usr/bin/ip").args(args).output().context("running ip")?;
    ensure!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// Echo requests with the MTU's payload and well above it.
const SMALL: u32 = 56;
const LARGE: u32 = 2000;

/// The test. A cgroup pings exactly N small packets over a veth pair while a sibling
/// cgroup pings more over the same pair; then, with the sending side's MTU raised to 9000 and
/// the receiving side's left at 1500, it sends M echo requests too long for the receiver.
/// Traced with `--lines __is_skb_forwardable --functions veth_xmit`:
/// - the `IFF_UP` test, the first statement line of `__is_skb_forwardable`, runs exactly as
///   often as `veth_xmit` was entered, all in the copy inlined into `__dev_forward_skb2`,
///   which veth's transmit path calls (`__dev_forward_skb`);
/// - those entries are the pinger's own: N requests and at most N replies (answered in the
///   pinger's softirq, or not), then M; the sibling's are not counted;
/// - the `skb_is_gso` line runs only for packets longer than the receiver's MTU: exactly M
///   times. A ping payload above the MTU of both ends never gets there: IP fragments it first;
/// - the exported wrapper `is_skb_forwardable` never runs, and its body is named.
fn lines_count_every_copy_exactly_per_cgroup() -> anyhow::Result<()> {
    const N: u32 = 20;
    const SIBLING: u32 = 60;
    const M: u32 = 7;
    if dwarf_image()?.is_none() {
        return Ok(());
    }
    let tree = TestCgroups::new(&["pinger", "sibling"]);
    let pair = VethPair::new()?;
    let dir = tempfile::tempdir()?;
    let record = dir.path().join("lines.json");
    let pinger = tree.path("pinger");
    let mut tracer = Ktrace::spawn(&[
        "record",
        "-o",
        record.to_str().unwrap(),
        "--cgroup",
        pinger.to_str().unwrap(),
        "--lines",
        BODY,
        "--lines",
        "is_skb_forwardable",
        "--functions",
        "veth_xmit",
        "--source",
        SOURCE,
    ])?;
    tracer.wait_for_stderr("stop with Ctrl-C")?;
    let sibling = thread::scope(|s| {
        let sibling = s.spawn(|| pair.ping(&tree.path("sibling"), SIBLING, SMALL));
        let status = pair.ping(&pinger, N, SMALL)?;
        ensure!(status.success(), "ping of {N} packets: {status}");
        sibling.join().expect("sibling ping")
    })?;
    ensure!(sibling.success(), "the sibling's ping: {sibling}");
    ip(&["-n", &pair.a, "link", "set", &pair.dev_a, "mtu", "9000"])?;
    // No replies: the receiver drops them all, so ping reports failure.
    pair.ping(&pinger, M, LARGE)?;
    let (progs, links) = tracer.bpf_ids()?;
    tracer.signal(libc::SIGINT);
    let (status, _, stderr) = tracer.finish()?;
    ensure!(status.success(), "ktrace record: {status}\n{stderr}");
    ensure!(
        stderr.contains(&format!("count them with --lines {BODY}")),
        "no note that {BODY} is is_skb_forwardable's body:\n{stderr}"
    );
    assert_clean_kernel(&progs, &links)?;

    let record: Value = serde_json::from_str(&fs::read_to_string(&record)?)?;
    let xmit = record["kernel_functions"]["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "veth_xmit")
        .and_then(|f| f["counts"][0].as_u64())
        .context("no veth_xmit entries")?;
    let (n, m) = (u64::from(N), u64::from(M));
    ensure!(
        (n + m..=2 * n + m).contains(&xmit),
        "veth_xmit entered {xmit} times, not {N} to {} plus {M}: the sibling's {SIBLING} pings \
         must not count",
        2 * N
    );
    let lines = &record["kernel_lines"];
    ensure!(lines["kind"] == "counts" && lines.get("skipped").is_none(), "{lines}");
    let function = lines["functions"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == BODY))
        .with_context(|| format!("no {BODY} in {lines}"))?;
    ensure!(function["file"] == "include/linux/netdevice.h", "{}", function["file"]);
    // The exported wrapper is never called on veth's path; its body runs inlined elsewhere.
    let wrapper = lines["functions"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "is_skb_forwardable"))
        .context("no is_skb_forwardable")?;
    ensure!(wrapper["body"] == BODY, "is_skb_forwardable's body: {}", wrapper["body"]);
    ensure!(
        wrapper["lines"].as_array().is_some_and(|l| l.iter().all(|l| l["counts"][0] == 0)),
        "is_skb_forwardable ran: {wrapper}"
    );
    let line = |needle: &str| -> anyhow::Result<&Value> {
        function["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["text"].as_str().is_some_and(|t| t.contains(needle))))
            .with_context(|| format!("no line with `{needle}` among {}", function["lines"]))
    };
    // Hits of `line` in the copy inlined into `container`, and in all copies.
    let hits = |line: &Value, container: &str| -> (u64, u64) {
        let copy = line["copies"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["container"] == container))
            .and_then(|c| c["counts"][0].as_u64())
            .unwrap_or(0);
        (copy, line["counts"][0].as_u64().unwrap_or(0))
    };
    let up = line("IFF_UP")?;
    let first = &function["lines"][0];
    ensure!(first["probes"].as_u64() > Some(0), "the first line {} has no probe", first["line"]);
    ensure!(
        up["line"].as_u64() >= first["line"].as_u64()
            && hits(first, "__dev_forward_skb2") == hits(up, "__dev_forward_skb2"),
        "the IFF_UP test {up} is not where the body starts ({first})"
    );
    ensure!(
        hits(up, "__dev_forward_skb2") == (xmit, xmit),
        "the IFF_UP test ran {:?} times (in __dev_forward_skb2, in all copies), veth_xmit {xmit}",
        hits(up, "__dev_forward_skb2")
    );
    let length = line("skb->len <= len")?;
    ensure!(hits(length, "__dev_forward_skb2") == (xmit, xmit), "{length}");
    let gso = line("skb_is_gso(skb)")?;
    ensure!(
        hits(gso, "__dev_forward_skb2") == (m, m),
        "the skb_is_gso line ran {:?} times, not exactly the {M} oversized requests",
        hits(gso, "__dev_forward_skb2")
    );
    // On the host, the record becomes a tracefile genhtml shows beside the source
    // (records::guest_records_lines_render_in_genhtml).
    if let Some(out) = std::env::var_os("KTRACE_OUT") {
        let dir = Path::new(&out).join("lines");
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("net.json"), serde_json::to_string_pretty(&record)?)?;
    }
    Ok(())
}

/// The IPv4 receive path runs in NET_RX softirq. With `--lines ip_rcv --functions ip_rcv` and
/// the default `--irq separate`, the first line of `ip_rcv` is hit exactly as often as the
/// function is entered, in each context: never in the pinging run's tasks, as often as
/// `ip_rcv` in interrupts while the run's task was current and on the whole machine. With
/// `--lines` alone the split is the same; its record exports the machine's interrupts as an
/// lcov tracefile, and `compare` sets the two runs' line hits in interrupts side by side.
fn line_hits_in_interrupts_are_kept_apart() -> anyhow::Result<()> {
    const RECEIVE: &str = "ip_rcv";
    const PINGS: u64 = 50;
    if dwarf_image()?.is_none() {
        return Ok(());
    }
    let flood = ping_over_veth('q', 21, PINGS as u32, "0.02");
    let dir = tempfile::tempdir()?;
    let run = |extra: &[&str], record: &Path| -> anyhow::Result<Value> {
        let mut args = vec!["run", "--record", record.to_str().unwrap(), "--lines", RECEIVE];
        args.extend(extra);
        args.extend(["-o", "json", "--", "sh", "-c", &flood]);
        let (status, stdout, stderr) = ktrace(&args)?;
        ensure!(status.success(), "ktrace {args:?}: {status}\n{stderr}");
        last_report(&stdout)
    };
    // The first counted line of ip_rcv, and its figures: the run's tasks, in interrupts while
    // its task ran, on the machine.
    let first_line = |report: &Value| -> anyhow::Result<(u64, (u64, u64, u64))> {
        let lines = &report["kernel_lines"];
        ensure!(lines["irq"] == "separate", "line hits not kept apart: {lines}");
        let line = lines["functions"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == RECEIVE))
            .and_then(|f| f["lines"].as_array()?.iter().find(|l| l["probes"].as_u64() > Some(0)))
            .with_context(|| format!("no counted line of {RECEIVE} in {lines}"))?;
        Ok((line["line"].as_u64().unwrap_or(0), figures(line)))
    };
    let with = dir.path().join("with.json");
    let with_function = run(&["--functions", RECEIVE], &with)?;
    let function = with_function["kernel_functions"]["functions"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == RECEIVE))
        .with_context(|| format!("no {RECEIVE} entries: {with_function}"))?;
    let entries = figures(function);
    let (line, with_hits) = first_line(&with_function)?;
    ensure!(
        entries.0 == 0 && entries.1 >= PINGS && entries.2 >= entries.1,
        "{RECEIVE} entries (tasks, in interrupts, machine): {entries:?}"
    );
    ensure!(
        with_hits == entries,
        "line {line} of {RECEIVE} was hit {with_hits:?} times (tasks, in interrupts, machine), \
         the function entered {entries:?}"
    );

    let alone = dir.path().join("alone.json");
    let (_, hits) = first_line(&run(&[], &alone)?)?;
    ensure!(
        hits.0 == 0 && hits.1 >= PINGS && hits.2 >= hits.1,
        "--lines alone: line {line} of {RECEIVE} hit {hits:?} times (tasks, in interrupts, machine)"
    );
    let tracefile = dir.path().join("interrupts.info");
    let (status, _, stderr) = ktrace(&[
        "export",
        alone.to_str().unwrap(),
        "--cgroup",
        "(interrupts)",
        "-o",
        tracefile.to_str().unwrap(),
    ])?;
    ensure!(status.success(), "export --cgroup '(interrupts)': {status}\n{stderr}");
    let tracefile = fs::read_to_string(&tracefile)?;
    ensure!(
        tracefile.lines().any(|l| l == format!("DA:{line},{}", hits.2)),
        "no DA:{line},{} in\n{tracefile}",
        hits.2
    );
    let (status, stdout, stderr) =
        ktrace(&["compare", with.to_str().unwrap(), alone.to_str().unwrap(), "-o", "json"])?;
    ensure!(status.success(), "compare: {status}\n{stderr}");
    let comparison: Value = serde_json::from_str(&stdout)?;
    let row = comparison["lines_in_interrupts"]["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == format!("{RECEIVE}:{line}")))
        .with_context(|| format!("no line {line} in interrupts compared:\n{stdout}"))?;
    ensure!(row["values"] == serde_json::json!([with_hits.1, hits.1]), "{row}");
    Ok(())
}

/// (tasks, in interrupts while the task ran, on the machine) of the first cgroup of a
/// function or line row made with `--irq separate`.
fn figures(row: &Value) -> (u64, u64, u64) {
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    (n(&row["counts"][0]), n(&row["in_interrupts"][0]), n(&row["all_interrupts"]))
}

/// `--dry-run` lists the copies and their probe addresses; for the wrapper
/// `is_skb_forwardable` it names the function that holds its body.
fn lines_dry_run_names_copies_and_a_wrappers_body() -> anyhow::Result<()> {
    if dwarf_image()?.is_none() {
        return Ok(());
    }
    let tree = TestCgroups::new(&[]);
    let cgroup = tree.base.to_str().unwrap();
    let (status, stdout, stderr) = ktrace(&[
        "attach",
        "--cgroup",
        cgroup,
        "--lines",
        "is_skb_forwardable",
        "--lines",
        BODY,
        "--dry-run",
    ])?;
    ensure!(status.success(), "{status}\n{stderr}");
    ensure!(
        stdout.contains(&format!("most of its code is {BODY}, inlined into it")),
        "no body named:\n{stdout}"
    );
    ensure!(
        stdout.contains("inlined into __dev_forward_skb2 (call at include/linux/netdevice.h:")
            && stdout.contains("    __dev_forward_skb2+0x"),
        "no copy in __dev_forward_skb2:\n{stdout}"
    );
    Ok(())
}

/// What `--lines` cannot count is one line on stderr, exit status 2, and nothing left: no
/// DWARF for the running kernel, an image of another kernel, a name without code.
fn lines_refuse_what_they_cannot_count() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&[]);
    let cgroup = tree.base.to_str().unwrap();
    fn attach<'a>(cgroup: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        [&["attach", "--cgroup", cgroup][..], extra].concat()
    }
    expect_error(
        &attach(cgroup, &["--lines", BODY, "--vmlinux", "/nonexistent/vmlinux"]),
        "/nonexistent/vmlinux",
    )?;
    // This test binary is an ELF image, of no kernel: its build id (if any) is not the
    // kernel's.
    let not_a_kernel = std::env::current_exe()?;
    expect_error(
        &attach(cgroup, &["--lines", BODY, "--vmlinux", not_a_kernel.to_str().unwrap()]),
        "the running kernel",
    )?;
    match dwarf_image()? {
        Some(_) => expect_error(
            &attach(cgroup, &["--lines", "ktrace_no_such_function"]),
            "has no code for ktrace_no_such_function",
        )?,
        None => expect_error(
            &attach(cgroup, &["--lines", BODY]),
            "--lines needs the running kernel's DWARF",
        )?,
    };
    // run: the cgroup it would have made is not left behind.
    let name = format!("{}-lines", tree.name);
    expect_error(
        &["run", "--name", &name, "--lines", "ktrace_no_such_function", "--", "true"],
        "--lines",
    )?;
    ensure!(!crate::support::cgroup2_root().join(&name).exists(), "run left its cgroup {name}");
    Ok(())
}
