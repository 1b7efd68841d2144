#!/usr/bin/env bash
# End-to-end ALOHA over real DDS: an rclpy stand-in for Interbotix xs_sdk (test/python/xs_sdk_peer.py: both follower
# arms + the four camera topics) in the background, and `edge-agent start --robot aloha --transport ros2` running one
# short local-bundle episode against it in the foreground, both in one private network namespace
# (scripts/ros2-netns.sh) so no DDS packet leaves the machine. Prints the agent's output and the peer's JSON counts;
# exits with the agent's status. Needs scripts/ros2-env.sh and scripts/ros2-msgs.sh first (.venv-ros2 with the
# interbotix_xs_msgs package) and root:
#   bash scripts/ros2-e2e-aloha.sh [extra edge-agent start flags...]
# Env: E2E_MAX_STEPS (150), E2E_TIMEOUT_S (agent timeout, 300), E2E_PEER_ARGS (peer flags; default
#      "--image-hz 15 --image-width 320 --image-height 240": with the peer's own 640x480 at 30 Hz on a 2-core machine the
#      agent sees JOINT_STATE_STALE faults that cut its resets short; E2E_PEER_ARGS= (empty) runs the full size).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ROS2_E2E_IN_NETNS:-}" != 1 ]; then
  exec bash scripts/ros2-netns.sh env ROS2_E2E_IN_NETNS=1 bash scripts/ros2-e2e-aloha.sh "$@"
fi
[ -f .venv-ros2/ros2-env.sh ] || { echo "ros2-e2e-aloha: .venv-ros2 missing (run scripts/ros2-env.sh)" >&2; exit 2; }
[ -f .venv-ros2/opt/openpi_msgs/env.sh ] || {
  echo "ros2-e2e-aloha: interbotix_xs_msgs missing (run scripts/ros2-msgs.sh)" >&2
  exit 2
}
set +u
source .venv-ros2/ros2-env.sh
source .venv-ros2/opt/openpi_msgs/env.sh
set -u

out=$(mktemp -d)
now() { date +%s.%N; }
t0=$(now)
peer_args=${E2E_PEER_ARGS---image-hz 15 --image-width 320 --image-height 240}
echo "== peer: test/python/xs_sdk_peer.py $peer_args"
# shellcheck disable=SC2086
.venv-ros2/bin/python test/python/xs_sdk_peer.py --ready-file "$out/ready" $peer_args \
  >"$out/peer.out" 2>"$out/peer.err" &
peer=$!
cleanup() {
  kill -TERM "$peer" 2>/dev/null || true
  wait "$peer" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
for _ in $(seq 1 200); do
  [ -f "$out/ready" ] && break
  kill -0 "$peer" 2>/dev/null || break
  sleep 0.1
done
if [ ! -f "$out/ready" ]; then
  echo "ros2-e2e-aloha: peer did not come up" >&2
  cat "$out/peer.err" >&2
  exit 2
fi
t1=$(now)
echo "== peer ready after $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s"

rc=0
timeout "${E2E_TIMEOUT_S:-300}" node --conditions=source --import tsx packages/edge-agent/src/cli/main.ts start \
  --robot aloha --transport ros2 --max-steps "${E2E_MAX_STEPS:-150}" --providers cpu --threads 1 \
  --status-interval 0 "$@" 2>&1 | tee "$out/agent.out" || rc=${PIPESTATUS[0]}
t2=$(now)

kill -TERM "$peer" 2>/dev/null || true
peer_rc=0
wait "$peer" || peer_rc=$?
trap - EXIT
echo "== agent exit $rc after $(awk "BEGIN{printf \"%.2f\", $t2-$t1}") s"
echo "== peer (exit $peer_rc):"
cat "$out/peer.out"
if [ -s "$out/peer.err" ]; then
  echo "== peer stderr (tail):"
  tail -20 "$out/peer.err"
fi
rm -rf "$out"
exit "$rc"
