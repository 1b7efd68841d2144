/**
 * The emulator's URScript ports (30001 primary, 30002 secondary, 30003 real-time): text in, programs out to the
 * controller model. A real controller also streams its state on these ports; ur_rtde does not read it (it only
 * sends its script on 30003), so the emulator sends nothing back.
 */
import type { Socket } from 'node:net';
import type { ControllerModel } from './controller.js';
import { ScriptAccumulator } from './script-parser.js';

export class ScriptServer {
  readonly #model: ControllerModel;
  /** Bytes of URScript received, all ports. */
  bytesReceived = 0;

  constructor(model: ControllerModel) {
    this.#model = model;
  }

  accept(socket: Socket, port: number): void {
    const acc = new ScriptAccumulator();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.bytesReceived += chunk.length;
      try {
        for (const item of acc.push(chunk)) this.#model.receiveScript(item, port);
      } catch (e) {
        this.#model.text('error', `script port ${port}: ${(e as Error).message}: connection closed`);
        socket.destroy();
      }
    });
  }
}
