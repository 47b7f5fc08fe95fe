#!/usr/bin/env bash
# The whole evpnd test suite, from a fresh machine with a Rust toolchain.
#
# Installs what the tests need (Debian packages such as tshark; cargo-fuzz), then runs the
# formatting and lint gates, a short fuzzing pass on the committed seed corpus, and every test.
#
#   FUZZ_SECONDS=N   seconds per fuzz target (default 60; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

# Debian packages the tests use, listed once in crates/lab/DEBIAN-PACKAGES: tshark is the
# independent oracle for every message we encode; FRR, GoBGP and ExaBGP are the interop peers;
# iproute2 builds the network namespaces.
packages=()
while read -r p; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || packages+=("$p")
done < crates/lab/DEBIAN-PACKAGES
if ((${#packages[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${packages[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# Tests that need root (network namespaces, real FRR/GoBGP/ExaBGP peers) skip themselves when
# not run as root outside CI; say so loudly here, where it cannot be missed.
if [ "$(id -u)" -ne 0 ]; then
  cat >&2 <<'EOS'
****************************************************************************************
*  NOT ROOT: these test groups will be SKIPPED (run scripts/test.sh as root for them):  *
*   - interop with FRR, GoBGP and ExaBGP in network namespaces                          *
*     (crates/evpnd/tests/interop.rs, crates/lab/tests/lab.rs)                           *
*   - evpnd processes in network namespaces (crates/evpnd/tests/common/netns_daemon.rs)  *
*   - the Linux kernel data plane: netlink backend tests (crates/dataplane/src/linux)    *
*     and the VXLAN fabric end to end (crates/evpnd/tests/linux_fabric.rs,               *
*     crates/lab/src/fabric)                                                             *
*  Everything else (codec, sessions, RIB, engine, node, fabric simulator, loopback      *
*  daemons, tshark oracle, netlink message encoding) runs.                               *
****************************************************************************************
EOS
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi

# Every test binary runs (--no-fail-fast); the last line sums them up for CI. A test that
# skips itself at run time (no root outside CI, or a kernel feature this machine lacks) writes
# its reason to EVPND_SKIP_LOG; those are listed and counted as skipped.
log="$(mktemp)"
skips="$(mktemp)"
trap 'rm -f "$log" "$skips"' EXIT
status=0
EVPND_SKIP_LOG="$skips" cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
if [ -s "$skips" ]; then
  echo "---- tests that skipped themselves (they count as passed above), with the reason:"
  sort -u "$skips"
fi
runtime_skips="$(sort -u "$skips" | wc -l)"
awk -v rs="$runtime_skips" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p - rs, f, s + rs }' "$log"
if [ "$(id -u)" -ne 0 ]; then
  echo "NOTE: not root: the network-namespace and interop groups above were SKIPPED" >&2
fi
exit "$status"
