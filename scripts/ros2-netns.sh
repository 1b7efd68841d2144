#!/usr/bin/env bash
# Runs a command in a fresh private network namespace that has only loopback (with a multicast route, for DDS
# discovery) and a test-only ROS_DOMAIN_ID, so no DDS packet leaves the machine. Every process of one test must run
# inside the same invocation (one namespace): e.g.
#   sudo bash scripts/ros2-netns.sh bash -c 'source .venv-ros2/ros2-env.sh; peer & node client.ts'
# Env: ROS2_TEST_DOMAIN_ID (default 77). Needs root (or CAP_SYS_ADMIN), unshare (util-linux) and ip (iproute2).
set -euo pipefail
die() { echo "ros2-netns: $*" >&2; exit 2; }
[ $# -gt 0 ] || die "usage: $0 <command...>"
[ "$(id -u)" = 0 ] || die "must run as root (unshare --net needs CAP_SYS_ADMIN); refusing to run DDS outside a private namespace"
command -v unshare >/dev/null || die "unshare not found (apt-get install util-linux)"
command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
export ROS_DOMAIN_ID=${ROS2_TEST_DOMAIN_ID:-77}
exec unshare --net -- bash -c '
  set -e
  ip link set lo up
  ip route add 224.0.0.0/4 dev lo 2>/dev/null || true
  # Nothing but loopback may exist here; refuse otherwise.
  others=$(ip -o link show | awk -F": " "{print \$2}" | grep -v "^lo$" || true)
  [ -z "$others" ] || { echo "ros2-netns: unexpected interfaces in namespace: $others" >&2; exit 2; }
  exec "$@"' ros2-netns "$@"
