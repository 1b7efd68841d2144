"""SDU's ur_rtde (PyPI ur-rtde) driving a UR controller: the peer of test/ur-rtde-peer.test.ts.

ur_rtde has fixed ports (RTDE 30004, dashboard 29999, real-time script 30003): only the host is configurable, so
the test runs the emulator on its own loopback address (127.x.y.z). Prints one JSON object per line (event = the
phase); reads nothing, except that after {"event": "await_protective_stop"} it streams servoJ until the receive
interface reports a protective stop (the test injects one when it sees that line) or a step cap.

ur_rtde has no reply timeouts: the test runs this under `timeout`.
"""

import json
import sys
import time

import rtde_control
import rtde_receive

START = [0.0, -1.57, 1.57, -1.57, -1.57, 0.0]
MOVEJ_TARGET = [0.2, -1.4, 1.4, -1.6, -1.5, 0.1]
SERVO_STEPS = 500  # 1 s at 500 Hz
SERVO_STEP_RAD = 0.0004  # joint 0 moves 0.2 rad over the stream
PS_STEP_CAP = 5000  # 10 s at 500 Hz


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def servo_stream(c, base, steps, step_rad):
    """servoJ at 500 Hz with initPeriod/waitPeriod; returns (all ok, last target)."""
    ok_all = True
    target = list(base)
    for i in range(steps):
        t0 = c.initPeriod()
        target = [base[0] + (i + 1) * step_rad] + list(base[1:])
        ok_all = c.servoJ(target, 0.5, 0.5, 0.002, 0.1, 300) and ok_all
        c.waitPeriod(t0)
    return ok_all, target


def reupload(c):
    """reuploadScript sends the script and returns; the program runs a controller cycle or so later."""
    ok = c.reuploadScript()
    deadline = time.monotonic() + 5
    while not c.isProgramRunning() and time.monotonic() < deadline:
        time.sleep(0.002)
    emit("reupload", ok=ok, program_running=c.isProgramRunning())


def main():
    host = sys.argv[1]
    r = rtde_receive.RTDEReceiveInterface(host)
    emit(
        "receive",
        q=r.getActualQ(),
        robot_mode=r.getRobotMode(),
        safety_mode=r.getSafetyMode(),
        timestamp=r.getTimestamp(),
        tcp_pose=r.getActualTCPPose(),
    )

    c = rtde_control.RTDEControlInterface(host)
    emit("control", connected=c.isConnected(), program_running=c.isProgramRunning())

    t0 = time.perf_counter()
    ok = c.moveJ(MOVEJ_TARGET, 1.05, 1.4)
    seconds = time.perf_counter() - t0
    time.sleep(0.05)  # the receive interface's stream: a few cycles after "done"
    emit("movej", ok=ok, seconds=seconds, q=r.getActualQ(), target=MOVEJ_TARGET)

    ok_all, last = servo_stream(c, MOVEJ_TARGET, SERVO_STEPS, SERVO_STEP_RAD)
    emit("servo", steps=SERVO_STEPS, all_ok=ok_all, last_target=last, q=r.getActualQ())
    emit("servo_stop", ok=c.servoStop())

    c.stopScript()
    time.sleep(0.05)
    emit("stop_script", program_running=c.isProgramRunning(), runtime_state=r.getRuntimeState())

    reupload(c)
    # moveL (command 3) is not emulated: the emulator ends the program with an error text, moveL returns False
    pose = r.getActualTCPPose()
    emit("unemulated", ok=c.moveL(pose, 0.25, 1.2), program_running=c.isProgramRunning())
    reupload(c)

    emit("await_protective_stop")
    base = r.getActualQ()
    step = 0
    seen = False
    while step < PS_STEP_CAP:
        t0 = c.initPeriod()
        c.servoJ([base[0] + step * 0.00005] + list(base[1:]), 0.5, 0.5, 0.002, 0.1, 300)
        c.waitPeriod(t0)
        step += 1
        if r.isProtectiveStopped():
            seen = True
            break
    time.sleep(0.05)
    emit(
        "protective_stop",
        seen=seen,
        steps=step,
        safety_mode=r.getSafetyMode(),
        safety_status_bits=r.getSafetyStatusBits(),
        program_running=c.isProgramRunning(),
        servo_ok_after=c.servoJ(base, 0.5, 0.5, 0.002, 0.1, 300),
    )
    c.disconnect()
    r.disconnect()
    emit("done")


if __name__ == "__main__":
    main()
