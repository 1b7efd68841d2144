"""pymodbus' own serial RTU server (PyPI `pymodbus`) as a minimal Robotiq 2F-85 slave on PORT_PATH.

Usage: robotiq_pymodbus_server.py PORT_PATH [SLAVE_ID]
Register map: 3 holding registers at 0x03E8 (robot output, commands) and 3 input registers at 0x07D0 (robot input,
status) in pymodbus' sequential data blocks; any other address answers exception 02 (pymodbus' own datastore
check). Update rule, applied after each write to the command registers (no motion model):
  rACT=0 -> status all zero (reset); rACT=1 -> gACT=1, gSTA=3 (activation complete at once), gGTO=rGTO,
  gOBJ=3 (at position) when rGTO=1 else 0, position request echo = rPR, position = rPR, current 0.
Prints one JSON line per event: `listening` once the port is open, then `write` for every register write it
stores (address, values as received). Serves until killed or stdin closes.
"""

import asyncio
import json
import sys

from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer

COMMAND_BASE = 0x03E8
STATUS_BASE = 0x07D0


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


class GripperContext(ModbusDeviceContext):
    """The two register blocks, addressed as on the wire (no +1 offset), plus the update rule above."""

    def __init__(self) -> None:
        super().__init__(
            hr=ModbusSequentialDataBlock(COMMAND_BASE, [0, 0, 0]),
            ir=ModbusSequentialDataBlock(STATUS_BASE, [0, 0, 0]),
        )

    def getValues(self, func_code, address, count=1):
        return self.store[self.decode(func_code)].getValues(address, count)

    def setValues(self, func_code, address, values):
        result = self.store[self.decode(func_code)].setValues(address, values)
        if result is None and self.decode(func_code) == "h":
            emit(event="write", function=func_code, address=address, values=list(values))
            self.update()
        return result

    def update(self) -> None:
        r0, r1, r2 = self.store["h"].getValues(COMMAND_BASE, 3)
        action, position = r0 >> 8, r1 & 0xFF
        if not action & 0x01:
            status = [0, 0, 0]
        else:
            go = (action >> 3) & 1
            byte0 = 0x01 | (go << 3) | (3 << 4) | ((3 if go else 0) << 6)
            status = [byte0 << 8, position, position << 8]
        self.store["i"].setValues(STATUS_BASE, status)


async def run(port: str, slave: int) -> None:
    context = ModbusServerContext(devices={slave: GripperContext()}, single=False)

    def on_connect(connected: bool) -> None:
        emit(event="listening" if connected else "disconnected", port=port, slave=slave)

    server = ModbusSerialServer(
        context,
        framer=FramerType.RTU,
        port=port,
        baudrate=115200,
        bytesize=8,
        parity="N",
        stopbits=1,
        ignore_missing_devices=True,
        trace_connect=on_connect,
    )
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    serving = asyncio.ensure_future(server.serve_forever())
    await asyncio.wait([serving, stdin_closed], return_when=asyncio.FIRST_COMPLETED)
    await server.shutdown()


def main() -> int:
    port = sys.argv[1]
    slave = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    asyncio.run(run(port, slave))
    return 0


if __name__ == "__main__":
    sys.exit(main())
