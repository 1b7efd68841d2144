#!/usr/bin/env bash
# Real-DDS smoke check (groundwork for the ROS 2 tests): an rclpy peer (test/python/ros2_smoke_peer.py) publishes
# JointState at 50 Hz and echoes what it receives; scripts/ros2-smoke-client.mts (rclnodejs through the repo's
# adapter) checks the messages and times 500 round trips. Needs scripts/ros2-env.sh first; runs itself inside a
# private network namespace (scripts/ros2-netns.sh) so no DDS packet leaves the machine:
#   bash scripts/ros2-env.sh && sudo bash scripts/ros2-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ROS2_SMOKE_IN_NETNS:-}" != 1 ]; then
  exec bash scripts/ros2-netns.sh env ROS2_SMOKE_IN_NETNS=1 bash scripts/ros2-smoke.sh
fi
source .venv-ros2/ros2-env.sh
out=$(mktemp -d)
.venv-ros2/bin/python test/python/ros2_smoke_peer.py --rate 50 --duration 60 >"$out/peer.out" 2>"$out/peer.err" &
peer=$!
rc=0
node --conditions=source --import tsx scripts/ros2-smoke-client.mts || rc=$?
kill -TERM "$peer" 2>/dev/null || true
wait "$peer" || true
echo "peer: $(cat "$out/peer.out")"
tail -5 "$out/peer.err"
rm -rf "$out"
exit "$rc"
