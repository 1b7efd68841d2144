#!/usr/bin/env bash
# Runs a command in a fresh private network namespace that has only loopback (with a multicast route, for DDS
# discovery) and a test-only ROS_DOMAIN_ID, so no DDS packet leaves the machine. Every process of one test must run
# inside the same invocation (one namespace): e.g.
#   bash scripts/ros2-netns.sh bash -c 'source .venv-ros2/ros2-env.sh; peer & node client.ts'
# As root: `unshare --net`. Otherwise an unprivileged user namespace (`unshare --user --map-root-user --net`) where
# the kernel allows one. Exports OPENPI_EDGE_ROS2_NETNS=1 inside; the real-DDS tests refuse to run without it.
# Env: ROS2_TEST_DOMAIN_ID (default 77). Needs unshare (util-linux) and ip (iproute2).
set -euo pipefail
die() { echo "ros2-netns: $*" >&2; exit 2; }
[ $# -gt 0 ] || die "usage: $0 <command...>"
command -v unshare >/dev/null || die "unshare not found (apt-get install util-linux)"
command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
if [ "$(id -u)" = 0 ]; then
  how=(--net)
elif unshare --user --map-root-user --net true 2>/dev/null; then
  how=(--user --map-root-user --net)
else
  die "cannot create a network namespace: run as root, or enable unprivileged user namespaces; refusing to run DDS outside a private namespace"
fi
export ROS_DOMAIN_ID=${ROS2_TEST_DOMAIN_ID:-77}
exec unshare "${how[@]}" -- bash -c '
  set -e
  ip link set lo up
  ip route add 224.0.0.0/4 dev lo 2>/dev/null || true
  # Nothing but loopback may exist here; refuse otherwise.
  others=$(ip -o link show | awk -F": " "{print \$2}" | grep -v "^lo$" || true)
  [ -z "$others" ] || { echo "ros2-netns: unexpected interfaces in namespace: $others" >&2; exit 2; }
  export OPENPI_EDGE_ROS2_NETNS=1
  exec "$@"' ros2-netns "$@"
