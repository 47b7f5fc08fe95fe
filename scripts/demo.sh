#!/usr/bin/env bash
# README command 1: the evpnd demo fabric, from a fresh clone on a machine with a Rust toolchain.
#
# Installs the Debian packages the demo needs when they are missing (iproute2, iputils-ping,
# procps), builds evpnd and evpnctl (release), and runs `evpnd demo` as root: a route reflector
# and three hosts running evpnd with the kernel data plane in network namespaces, tenants in the
# bridged VNIs 100/200 and in a routed tenant VRF red (L3VNI 5000, VNI 300 on host 1 and VNI 400
# on host 3), a ping matrix, `evpnctl show macs` and a live MAC move. It stays up until Ctrl-C; pass --once to
# exit after the checks (exit status 1 if a ping gave the wrong answer).
#
#   scripts/demo.sh [--once]
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
  sudo="sudo"
fi

packages=()
for p in iproute2 iputils-ping procps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || packages+=("$p")
done
if ((${#packages[@]})) && command -v apt-get >/dev/null; then
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "installing: ${packages[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "missing packages ${packages[*]} and no sudo to install them; evpnd demo will say what it needs" >&2
  fi
fi

cargo build --release -p evpnd -p evpnctl

# Without root and without sudo, evpnd demo explains what it needs and exits non-zero.
exec $sudo target/release/evpnd demo "$@"
