#!/usr/bin/env bash
# Installs what building, testing and demonstrating tapstack needs on Debian 12,
# as root and without questions. Installs only what is missing, and runs
# apt-get update only then, so a second run does nothing and prints nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # the build
  libpcap-dev                        # pcap capture and replay devices
  libcriterion-dev                   # unit tests
  librsvg2-bin                       # rsvg-convert: ts-plot --png
  iproute2 iputils-ping netcat-openbsd python3 tshark nftables  # integration tests and the demo
  clang libclang-rt-14-dev           # fuzzing (libFuzzer and the sanitizer runtimes for clang)
  valgrind                           # the integration apps checked for leaks and invalid accesses
  liblwip-dev                        # the benchmark's lwIP peer (bench/)
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if ((EUID != 0)); then
  echo "install-deps.sh: missing packages: ${missing[*]}; run this script as root to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the default (no) is what we want.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
log=$(mktemp /tmp/install-deps.XXXXXX.log)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "install-deps.sh: installing ${missing[*]} failed; apt's output:" >&2
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
