"""ROBOTIS' own DynamixelSDK (PyPI `dynamixel-sdk`) driving a Dynamixel bus at DEVICE_PATH.

Usage: dynamixel_sdk_peer.py DEVICE_PATH
Does: ping IDs 1-9; GroupSyncRead of Present Position (132, 4 B) for the arm masters 1,2,4,6,7,8; torque on ID 1;
write Goal Position (116) of ID 1 to 2548; read it back; poll Present Position until it reaches the goal (or 5 s).
Prints one JSON object with everything observed; exit code 0 unless the port cannot be opened.
"""

import json
import sys
import time

import dynamixel_sdk.port_handler as port_handler_module
from dynamixel_sdk import COMM_SUCCESS, GroupSyncRead, PacketHandler, PortHandler

# The SDK's reply timeout is 2 x LATENCY_TIMER (16 ms, a USB-serial adapter's buffering) + 2 ms. On a pty there is no
# adapter but the emulator shares a busy CI machine; a late reply would be read as the answer to the next request.
port_handler_module.LATENCY_TIMER = 250

ADDR_TORQUE_ENABLE = 64
ADDR_GOAL_POSITION = 116
ADDR_PRESENT_POSITION = 132
ARM_IDS = [1, 2, 4, 6, 7, 8]
GOAL = 2548


def main() -> int:
    port = PortHandler(sys.argv[1])
    if not port.openPort() or not port.setBaudRate(1_000_000):
        print(json.dumps({"error": "cannot open port"}))
        return 1
    ph = PacketHandler(2.0)
    out: dict = {"ping": {}, "sync_read": {}}

    for dxl_id in range(1, 10):
        model, comm, err = ph.ping(port, dxl_id)
        out["ping"][str(dxl_id)] = {"model": model, "comm": ph.getTxRxResult(comm), "error": err}

    sync = GroupSyncRead(port, ph, ADDR_PRESENT_POSITION, 4)
    for dxl_id in ARM_IDS:
        sync.addParam(dxl_id)
    comm = sync.txRxPacket()
    out["sync_read_comm"] = ph.getTxRxResult(comm)
    for dxl_id in ARM_IDS:
        if sync.isAvailable(dxl_id, ADDR_PRESENT_POSITION, 4):
            out["sync_read"][str(dxl_id)] = sync.getData(dxl_id, ADDR_PRESENT_POSITION, 4)

    comm, err = ph.write1ByteTxRx(port, 1, ADDR_TORQUE_ENABLE, 1)
    out["torque"] = {"comm": ph.getTxRxResult(comm), "error": err}
    comm, err = ph.write4ByteTxRx(port, 1, ADDR_GOAL_POSITION, GOAL)
    out["write_goal"] = {"comm": ph.getTxRxResult(comm), "error": err}
    goal, comm, err = ph.read4ByteTxRx(port, 1, ADDR_GOAL_POSITION)
    out["goal_readback"] = goal

    trace = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        pos, comm, err = ph.read4ByteTxRx(port, 1, ADDR_PRESENT_POSITION)
        if comm == COMM_SUCCESS:
            trace.append(pos)
            if pos == GOAL:
                break
        time.sleep(0.02)
    out["trace"] = trace
    # A write the servo must refuse: Goal Position of the shoulder (ID 2) outside its 841..2867 limits.
    comm, err = ph.write4ByteTxRx(port, 2, ADDR_GOAL_POSITION, 4000)
    out["limit_write"] = {"comm": ph.getTxRxResult(comm), "error": err, "error_text": ph.getRxPacketError(err)}
    port.closePort()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
