"""pymodbus' own serial RTU client (PyPI `pymodbus`) driving a Robotiq 2F-85 slave at DEVICE_PATH.

Usage: robotiq_pymodbus_client.py DEVICE_PATH [SLAVE_ID]
Does: read the status registers (function 0x04, 3 registers at 0x07D0); reset (rACT=0) and activate (rACT=1) with
function 0x10 at 0x03E8; poll the status until gSTA=3; command a move to position 200 at full speed, force 128;
poll until gOBJ is no longer 0 (moving); read the command registers back (function 0x03); provoke two exceptions
(a read and a write at address 0x0000).
Prints one JSON object per line (`event` says which); exit code 0 unless the port cannot be opened or a step that
must succeed fails (then the last line has `"event": "error"`).
"""

import json
import sys
import time

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient

STATUS_BASE = 0x07D0
COMMAND_BASE = 0x03E8


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def decode(regs: list[int]) -> dict:
    b = [regs[0] >> 8, regs[0] & 0xFF, regs[1] >> 8, regs[1] & 0xFF, regs[2] >> 8, regs[2] & 0xFF]
    return {
        "registers": regs,
        "gACT": b[0] & 1,
        "gGTO": (b[0] >> 3) & 1,
        "gSTA": (b[0] >> 4) & 3,
        "gOBJ": (b[0] >> 6) & 3,
        "fault": b[2],
        "position_request": b[3],
        "position": b[4],
        "current": b[5],
    }


class StepFailed(Exception):
    pass


def main() -> int:
    device = sys.argv[1]
    slave = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    # A generous reply timeout: the emulator shares a busy machine; this is a hang guard, not a measurement.
    client = ModbusSerialClient(
        port=device,
        framer=FramerType.RTU,
        baudrate=115200,
        bytesize=8,
        parity="N",
        stopbits=1,
        timeout=1.0,
        retries=3,
    )
    if not client.connect():
        emit(event="error", step="connect", message=f"cannot open {device}")
        return 1

    def status(step: str) -> dict:
        rr = client.read_input_registers(STATUS_BASE, count=3, device_id=slave)
        if rr.isError():
            raise StepFailed(f"{step}: {rr}")
        return decode(list(rr.registers))

    def write(step: str, values: list[int]) -> None:
        rr = client.write_registers(COMMAND_BASE, values, device_id=slave)
        if rr.isError():
            raise StepFailed(f"{step}: {rr}")
        emit(event="write", step=step, values=values, address=rr.address, count=rr.count)

    try:
        emit(event="status", step="initial", **status("initial"))
        write("reset", [0x0000, 0x0000, 0x0000])
        write("activate", [0x0100, 0x0000, 0x0000])
        polls = 0
        deadline = time.monotonic() + 20.0
        while True:
            s = status("activation poll")
            polls += 1
            if s["gSTA"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        emit(event="status", step="activated", polls=polls, **s)

        # rACT | rGTO, position 200, speed 255, force 128
        write("move", [0x0900, 200, (255 << 8) | 128])
        trace = []
        deadline = time.monotonic() + 20.0
        while True:
            s = status("move poll")
            trace.append(s["position"])
            if s["gOBJ"] != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        emit(event="status", step="moved", trace=trace, **s)

        rr = client.read_holding_registers(COMMAND_BASE, count=3, device_id=slave)
        if rr.isError():
            raise StepFailed(f"command readback: {rr}")
        emit(event="command_readback", registers=list(rr.registers))

        rr = client.read_input_registers(0x0000, count=1, device_id=slave)
        emit(
            event="exception",
            step="read address 0",
            is_error=rr.isError(),
            function_code=getattr(rr, "function_code", None),
            exception_code=getattr(rr, "exception_code", None),
        )
        rr = client.write_registers(0x0000, [1], device_id=slave)
        emit(
            event="exception",
            step="write address 0",
            is_error=rr.isError(),
            function_code=getattr(rr, "function_code", None),
            exception_code=getattr(rr, "exception_code", None),
        )
    except Exception as e:  # noqa: BLE001 - reported to the test as a JSON line
        emit(event="error", step="run", message=f"{type(e).__name__}: {e}")
        client.close()
        return 1
    client.close()
    emit(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
