# ktrace's built-in default workload: the seed study's four microbenchmark kinds, briefly.
# Runs with sh -c inside the cgroup `ktrace run` created; progress goes to stderr so that
# ktrace's table stays alone on stdout. KTRACE_WORKLOAD_SECONDS sets each phase's length.
set -eu
secs=${KTRACE_WORKLOAD_SECONDS:-3}
for tool in sysbench iperf3 ip nsenter; do
    command -v "$tool" >/dev/null || { echo "ktrace: default workload needs $tool; run scripts/setup.sh" >&2; exit 127; }
done

work=$(mktemp -d /var/tmp/ktrace-workload.XXXXXX)
ns=ktrace-wl-$$
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    ip netns del "$ns-srv" 2>/dev/null
    ip netns del "$ns-cli" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "ktrace: workload: $*" >&2; }

say "cpu: sysbench cpu, ${secs} s"
sysbench cpu --time="$secs" run >/dev/null

say "memory: sysbench memory, ${secs} s"
sysbench memory --time="$secs" run >/dev/null

say "file I/O: sysbench fileio rndrw on 64 MiB in $work, ${secs} s"
(
    cd "$work"
    sysbench fileio --file-total-size=64M --file-num=4 prepare >/dev/null
    sysbench fileio --file-total-size=64M --file-num=4 --file-test-mode=rndrw --time="$secs" run >/dev/null
    sysbench fileio --file-total-size=64M --file-num=4 cleanup >/dev/null
)

# Two private network namespaces joined by a veth pair; the host's interfaces are untouched.
# 198.18.0.0/15 is the range RFC 2544 reserves for benchmarks.
say "network: iperf3 over a veth pair between two namespaces, ${secs} s"
ip netns add "$ns-srv"
ip netns add "$ns-cli"
ip link add kt$$s netns "$ns-srv" type veth peer name kt$$c netns "$ns-cli"
ip -n "$ns-srv" addr add 198.18.0.1/30 dev kt$$s
ip -n "$ns-cli" addr add 198.18.0.2/30 dev kt$$c
for n in "$ns-srv" "$ns-cli"; do ip -n "$n" link set lo up; done
ip -n "$ns-srv" link set kt$$s up
ip -n "$ns-cli" link set kt$$c up
nsenter --net=/var/run/netns/"$ns-srv" iperf3 --server --one-off --bind 198.18.0.1 >/dev/null &
server=$!
tries=0
until nsenter --net=/var/run/netns/"$ns-cli" iperf3 --client 198.18.0.1 --time "$secs" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || { say "iperf3 client could not reach the server"; exit 1; }
    sleep 0.1
done
wait "$server" 2>/dev/null || true
server=
say "done"
