#!/usr/bin/env bash
# Installs node_pcap (npm pcap@3.1.0), the baseline our benchmarks compare with, into a scratch folder
# outside the repository and builds its addon against libpcap-dev. It is never a dependency of pcap-pipe.
# Prints the node_modules folder to use as NODE_PCAP_PATH.
set -euo pipefail
DIR=${NODE_PCAP_DIR:-${TMPDIR:-/tmp}/pcap-pipe-bench/node_pcap}
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || npm init -y >/dev/null
built() { [ -f node_modules/pcap/build/Release/pcap_binding.node ]; }
if ! built; then
  npm install --no-audit --no-fund --no-save pcap@3.1.0 >&2 || true
  # npm 11 holds back dependencies' install scripts until approved; build it explicitly.
  built || (cd node_modules/pcap && npx --yes node-gyp rebuild >&2)
fi
built || { echo "setup-node-pcap: could not build pcap@3.1.0 (needs libpcap-dev, make, g++)" >&2; exit 1; }
echo "$DIR/node_modules"
