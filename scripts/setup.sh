#!/usr/bin/env bash
# Installs everything ktrace needs on a fresh Debian 12 machine (run as root).
# Idempotent: every step checks first, so a second run takes seconds.
# Built tools are cached in /var/cache/ktrace (.cargo/config.toml names the linker there).
set -euo pipefail

cache=/var/cache/ktrace
step() { printf '==> %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------
# sysbench/fio/iperf3: the default workload's and ktrace study's microbenchmarks.
# iproute2: network namespaces, veth pairs and taps for the network benchmark.
# qemu-system-x86, busybox-static, xz-utils: the guest-kernel harness (cargo xtask vm) and
# ktrace study's VM boot Debian kernels under QEMU with a busybox initramfs; xz unpacks the
# kernels' modules; busybox-static is also the shell of the study's containers.
# e2fsprogs, util-linux: the study VM's ext4 disk (mkfs.ext4); nsenter and unshare.
# runc, runsc: container runtimes, the study's platforms, also copied into the guest.
# lxc: LXC containers, which the runtime root tests trace by name (busybox template, no network).
# tmux: the pseudo-terminal the live view's root tests (ktrace top) are driven in.
# lcov: genhtml, which renders ktrace's lcov coverage export in the tests.
# fonts-dejavu-core: the font of `ktrace compare --plot` figures.
# bpftrace: what `cargo xtask bench` compares ktrace's syscall counting with.
packages=(sysbench fio iperf3 iproute2 procps qemu-system-x86 busybox-static xz-utils e2fsprogs util-linux runc runsc lxc tmux lcov fonts-dejavu-core bpftrace)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Rust: nightly with rust-src for -Z build-std=core of the eBPF crate -----
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    step "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    step "adding rust-src to the nightly toolchain"
    rustup component add rust-src --toolchain nightly
fi

# --- bpf-linker, built against the nightly's own LLVM --------------------------
# The linker must use exactly the LLVM of the rustc that emits the bitcode, so it
# is keyed by the nightly's commit hash and rebuilt only when the nightly changes.
nightly_hash=$(rustc +nightly -vV | sed -n 's/^commit-hash: //p')
linker_root="$cache/bpf-linker/$nightly_hash"
if [[ ! -x "$linker_root/bin/bpf-linker" ]]; then
    step "building bpf-linker 0.13.0 against nightly LLVM ($nightly_hash); takes about 3 minutes"
    sysroot=$(rustc +nightly --print sysroot)
    libllvm=$(cd "$sysroot/lib" && ls libLLVM.so.*-rust-*nightly | head -n1)
    llvm_major=${libllvm#libLLVM.so.}
    llvm_major=${llvm_major%%.*}
    prefix="$linker_root/llvm"
    mkdir -p "$prefix/lib"
    ln -sf "$sysroot/lib/$libllvm" "$prefix/lib/$libllvm"
    ln -sf "$sysroot/lib/$libllvm" "$prefix/lib/libLLVM.so"
    tmp_root="$linker_root.tmp.$$"
    LLVM_PREFIX="$prefix" cargo +nightly install bpf-linker --version 0.13.0 --locked \
        --no-default-features --features "llvm-$llvm_major" --root "$tmp_root" --quiet
    mkdir -p "$linker_root/bin"
    mv "$tmp_root/bin/bpf-linker" "$linker_root/bin/bpf-linker"
    rm -rf "$tmp_root"
fi
# A stable path that .cargo/config.toml names as the bpfel linker.
mkdir -p "$cache/bin"
ln -sfn "$linker_root/bin/bpf-linker" "$cache/bin/bpf-linker"
step "setup complete (bpf-linker: $cache/bin/bpf-linker)"
