#!/usr/bin/env bash
# Makes the benchmark capture: real HTTP/1.1 keep-alive traffic (nginx serving 1 KB / 20 KB / 200 KB bodies,
# driven by wrk) captured by tcpdump, PACKETS frames (default 1,000,000, about 1.1 GB).
#
# Generator (nginx + wrk) and tcpdump are pinned to different CPUs, the generator at low priority and tcpdump
# at high priority, so the capture drops nothing even on a busy shared machine; a capture the kernel dropped
# packets from (holes in the TCP streams) is refused, since every benchmark row assumes complete exchanges.
# Everything runs in a private network namespace made for the purpose (unshare --net): there we can set the
# namespace's own loopback to MTU 1500 with segmentation offload off, so frames look like Ethernet on a wire
# instead of 64 KiB loopback super-packets, and no traffic leaves it. Checksums are fixed afterwards
# (loopback never computes them) with tcprewrite, when it is installed.
#
# Output: $OUT (default ${TMPDIR:-/tmp}/pcap-pipe-bench/http-<PACKETS>.pcap) and a pcapng copy beside it
# (same name, .pcapng, when editcap is installed). Never commit them.
# Needs root and: nginx wrk tcpdump ethtool iproute2 curl (tcpreplay and wireshark-common optional).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKETS=${PACKETS:-1000000}
OUT=${OUT:-${TMPDIR:-/tmp}/pcap-pipe-bench/http-$PACKETS.pcap}
PORT=${PORT:-8080}
CONNS=${CONNS:-64}
MAX_SECONDS=${MAX_SECONDS:-300}
export PACKETS OUT PORT CONNS MAX_SECONDS

if [ "${1:-}" != "--in-namespace" ]; then
  for t in nginx wrk tcpdump ethtool ip curl unshare; do
    command -v "$t" >/dev/null || { echo "make-capture: missing $t (apt-get install -y nginx-light wrk tcpdump ethtool iproute2 curl)" >&2; exit 1; }
  done
  mkdir -p "$(dirname "$OUT")"
  exec unshare --net -- bash "$HERE/make-capture.sh" --in-namespace
fi

ip link set lo up
ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true

WORK=$(mktemp -d)
chmod 755 "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/tmp"
body() { head -c $(( $1 * 3 / 4 + 64 )) /dev/urandom | base64 -w 76 | head -c "$1"; }
body 1024 > "$WORK/www/small.html"
body 20480 > "$WORK/www/medium.html"
body 204800 > "$WORK/www/large.bin"
chmod -R a+rX "$WORK/www"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100;
  types { text/html html; application/octet-stream bin; }
  client_body_temp_path $WORK/tmp/b; proxy_temp_path $WORK/tmp/p; fastcgi_temp_path $WORK/tmp/f;
  uwsgi_temp_path $WORK/tmp/u; scgi_temp_path $WORK/tmp/s;
  server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
CONF
cat > "$WORK/mix.lua" <<'LUA'
-- 70 % small, 25 % medium, 5 % large pages, browser-like headers, keep-alive
local paths = {}
for _ = 1, 70 do paths[#paths + 1] = "/small.html" end
for _ = 1, 25 do paths[#paths + 1] = "/medium.html" end
for _ = 1, 5 do paths[#paths + 1] = "/large.bin" end
local n = 0
function init(args) math.randomseed(42) end
function request()
  n = n + 1
  return wrk.format("GET", paths[math.random(#paths)] .. "?n=" .. n, {
    ["User-Agent"] = "pcap-pipe-bench/1.0 (like Firefox)",
    ["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.5",
    ["Cookie"] = "session=0123456789abcdef",
  })
end
LUA

nice -n 15 taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" & pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/small.html" && break; sleep 0.1; done
nice -n -15 taskset -c 1 tcpdump -i lo -Q in -nn -B 1048576 -c "$PACKETS" -w "$WORK/raw.pcap" "tcp port $PORT" 2>"$WORK/tcpdump.err" & tcpdump_pid=$!; pids+=($tcpdump_pid)
for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.err" && break; sleep 0.1; done
nice -n 15 taskset -c 0 wrk -t 2 -c "$CONNS" -d "${MAX_SECONDS}s" -s "$WORK/mix.lua" "http://127.0.0.1:$PORT/" >"$WORK/wrk.out" 2>&1 & wrk_pid=$!; pids+=($wrk_pid)
while kill -0 "$tcpdump_pid" 2>/dev/null && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.2; done
kill "$wrk_pid" 2>/dev/null || true
sleep 0.5
kill -INT "$tcpdump_pid" 2>/dev/null || true
wait "$tcpdump_pid" 2>/dev/null || true
cat "$WORK/tcpdump.err" >&2
if grep -Eq '^[1-9][0-9]* packets dropped by kernel' "$WORK/tcpdump.err"; then
  echo "make-capture: the kernel dropped packets (busy machine?); run it again, or with fewer CONNS" >&2
  exit 1
fi
if command -v tcprewrite >/dev/null; then tcprewrite --fixcsum --infile="$WORK/raw.pcap" --outfile="$OUT"; else mv "$WORK/raw.pcap" "$OUT"; fi
if command -v editcap >/dev/null; then editcap -F pcapng "$OUT" "${OUT%.pcap}.pcapng"; fi
ls -l "$OUT" "${OUT%.pcap}.pcapng" 2>/dev/null || true
