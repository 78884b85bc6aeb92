//! Discovery against the state files in `tests/fixtures/runtimes` (see its README: most were
//! captured from real runs on a hybrid-cgroup host), with a `/proc` and a cgroup v2 tree
//! that show the processes as they were when the files were captured.
use std::{fs, path::Path};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runtimes");
const DOCKER_WEB: &str = "92f81c0d27f0d1278bac929fe6f243ae04c19e1cdac72c6fecd91dd5ba90d599";
const DOCKER_GVISOR: &str = "5a33f6a01125620fec107304cc8f8c312fbdda99519fd575d5c33c114417adbd";
const PODMAN: &str = "7f3c9a0e51b24d6c8e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f";

/// A process as `/proc` shows it: pid, parent, name, start time, `0::` path, command line.
struct Fake<'a>(u32, u32, &'a str, u64, &'a str, &'a str);

const PROCESSES: &[Fake] = &[
    Fake(26591, 1, "sleep", 128616, "/web", "sleep 3600"),
    Fake(25965, 1, "exe", 1000, "/", "runsc-gofer gofer"),
    Fake(25967, 1, "exe", 1001, "/", "runsc-sandbox boot gvisor"),
    Fake(25989, 25967, "exe", 1002, "/", "[exe]"),
    Fake(
        30294,
        1,
        "sleep",
        140232,
        "/docker/92f81c0d27f0d1278bac929fe6f243ae04c19e1cdac72c6fecd91dd5ba90d599",
        "sleep 3600",
    ),
    Fake(30488, 1, "exe", 2000, "/", "runsc-gofer gofer"),
    Fake(30489, 1, "exe", 2001, "/", "runsc-sandbox boot"),
    Fake(
        41000,
        1,
        "sh",
        200000,
        "/libpod_parent/libpod-7f3c9a0e51b24d6c8e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f",
        "sh",
    ),
    Fake(42000, 1, "nginx", 210000, "/api", "nginx"),
    Fake(
        43000,
        1,
        "qemu-system-x86",
        3000,
        r"/machine.slice/machine-qemu\x2d1\x2dvm1.scope",
        "qemu-system-x86_64 -name guest=vm1,debug-threads=on",
    ),
    Fake(44000, 1, "systemd", 4000, "/machine.slice/machine-box.scope", "/usr/lib/systemd/systemd"),
    Fake(45000, 1, "firecracker", 5000, "/firecracker/fc1", "firecracker --id fc1"),
    Fake(46000, 1, "qemu-system-x86", 6000, "/", "qemu-system-x86_64 -M microvm -name micro"),
    Fake(31185, 31184, "init", 7000, "/lxc.payload.rtlxc", "/sbin/init"),
    Fake(31184, 1, "lxc-start", 6999, "/lxc.monitor.rtlxc", "[lxc monitor] /var/lib/lxc rtlxc"),
];

/// The fixtures' run/ and var/lib/ beside a made-up proc/ and cgroup2/.
fn host() -> (tempfile::TempDir, Roots) {
    let dir = tempfile::tempdir().unwrap();
    let roots = Roots {
        run: Path::new(FIXTURES).join("run"),
        var_lib: Path::new(FIXTURES).join("var/lib"),
        proc: dir.path().join("proc"),
        cgroup2: dir.path().join("cgroup2"),
    };
    for Fake(pid, ppid, comm, start, cgroup, cmdline) in PROCESSES {
        let proc = roots.proc.join(pid.to_string());
        fs::create_dir_all(&proc).unwrap();
        let stat =
            format!("{pid} ({comm}) S {ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0");
        fs::write(proc.join("stat"), stat).unwrap();
        fs::write(proc.join("cgroup"), format!("4:memory:/x\n0::{cgroup}\n")).unwrap();
        fs::write(proc.join("cmdline"), cmdline.replace(' ', "\0") + "\0").unwrap();
        let cgroup_dir = roots.cgroup2.join(cgroup.trim_start_matches('/'));
        fs::create_dir_all(&cgroup_dir).unwrap();
        let procs = cgroup_dir.join("cgroup.procs");
        let before = fs::read_to_string(&procs).unwrap_or_default();
        fs::write(procs, format!("{before}{pid}\n")).unwrap();
    }
    (dir, roots)
}

fn find<'a>(workloads: &'a [Workload], name: &str) -> &'a Workload {
    workloads.iter().find(|w| w.name == name).unwrap_or_else(|| panic!("no {name}: {workloads:#?}"))
}

fn own(cgroup: &str) -> Placement {
    Placement::Own { cgroup: cgroup.to_owned() }
}

#[test]
fn runc_containers_are_found_with_their_cgroup_and_life() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    let web = find(&all, "web");
    assert_eq!((web.runtime, web.id.as_str(), web.state), (Runtime::Runc, "web", State::Running));
    assert_eq!((web.pids.as_slice(), &web.placement), (&[26591][..], &own("/web")));
    // Its init is gone and no cgroup is left: stopped, nothing to trace.
    let old = find(&all, "old");
    assert_eq!((old.state, old.pids.len()), (State::Stopped, 0));
    assert!(
        matches!(&old.placement, Placement::None { why, .. } if why.contains("no running process"))
    );
}

#[test]
fn a_runsc_sandbox_in_the_v2_root_says_why_and_what_to_do() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    let gvisor = find(&all, "gvisor");
    assert_eq!((gvisor.runtime, gvisor.state), (Runtime::Runsc, State::Running));
    // The sandbox (sentry) and the gofer; the ptrace stub is the sandbox's child.
    assert_eq!(gvisor.pids, [25967, 25965]);
    let Placement::None { why, fix } = &gvisor.placement else { panic!("{gvisor:?}") };
    assert!(why.contains("cgroup v2 root") && why.contains("cgroup v1"), "{why}");
    assert!(fix.contains("--cgroup") && fix.contains("ktrace run"), "{fix}");
}

#[test]
fn docker_names_its_containers_and_keeps_runsc_s_gofer() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    let shop = find(&all, "shop");
    assert_eq!((shop.runtime, shop.id.as_str()), (Runtime::Docker, DOCKER_WEB));
    assert_eq!(shop.placement, own(&format!("/docker/{DOCKER_WEB}")));
    let sandboxed = find(&all, "sandboxed");
    assert_eq!((sandboxed.runtime, sandboxed.id.as_str()), (Runtime::Docker, DOCKER_GVISOR));
    assert_eq!(sandboxed.pids, [30488, 30489], "runsc's state adds the gofer");
    assert!(matches!(&sandboxed.placement, Placement::None { why, .. } if why.contains("runsc")));
    // Each container once, under Docker, although runc and runsc know them too.
    assert_eq!(all.iter().filter(|w| w.id == DOCKER_WEB || w.id == DOCKER_GVISOR).count(), 2);
}

#[test]
fn podman_crun_machines_lxc_and_vms_are_found() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    let db = find(&all, "db");
    assert_eq!((db.runtime, db.id.as_str()), (Runtime::Podman, PODMAN));
    assert_eq!(db.placement, own(&format!("/libpod_parent/libpod-{PODMAN}")));
    let api = find(&all, "api");
    assert_eq!((api.runtime, &api.placement), (Runtime::Crun, &own("/api")));
    let vm1 = find(&all, "vm1");
    assert_eq!(vm1.runtime, Runtime::Libvirt, "libvirt's QEMU is listed once, as libvirt's");
    assert_eq!(vm1.placement, own(r"/machine.slice/machine-qemu\x2d1\x2dvm1.scope"));
    assert_eq!(all.iter().filter(|w| w.pids.contains(&43000)).count(), 1);
    assert_eq!(find(&all, "box").runtime, Runtime::SystemdNspawn);
    let lxc = find(&all, "rtlxc");
    assert_eq!((lxc.runtime, &lxc.placement), (Runtime::Lxc, &own("/lxc.payload.rtlxc")));
    assert_eq!(lxc.pids, [31185], "the monitor is not the container");
    let fc = find(&all, "fc1");
    assert_eq!((fc.runtime, &fc.placement), (Runtime::Firecracker, &own("/firecracker/fc1")));
    assert_eq!(all.iter().filter(|w| w.pids.contains(&45000)).count(), 1);
    let micro = find(&all, "micro");
    assert_eq!((micro.runtime, micro.id.as_str()), (Runtime::Qemu, "46000"));
    assert!(matches!(&micro.placement, Placement::None { why, .. } if why.contains("VM")));
}

#[test]
fn names_ids_and_unique_id_prefixes_select_workloads() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    assert_eq!(named(&all, "shop")[0].id, DOCKER_WEB);
    assert_eq!(named(&all, DOCKER_WEB)[0].name, "shop");
    assert_eq!(named(&all, "92f81c")[0].name, "shop");
    assert_eq!(named(&all, "nothing").len(), 0);
    // A prefix of no id selects nothing; an exact name wins over prefixes.
    assert_eq!(named(&all, "5a3").len(), 1);
    assert_eq!(named(&all, "zz").len(), 0);
}

#[test]
fn workloads_serialize_with_their_placement_flattened() {
    let (_dir, roots) = host();
    let all = discover(&roots);
    let web = serde_json::to_value(find(&all, "web")).unwrap();
    assert_eq!(web["runtime"], "runc");
    assert_eq!(web["cgroup"], "/web");
    assert_eq!(web["pids"][0], 26591);
    let gvisor = serde_json::to_value(find(&all, "gvisor")).unwrap();
    assert!(gvisor.get("cgroup").is_none());
    assert!(gvisor["why"].as_str().unwrap().contains("root"));
    assert_eq!(serde_json::to_value(find(&all, "box")).unwrap()["runtime"], "systemd-nspawn");
}
