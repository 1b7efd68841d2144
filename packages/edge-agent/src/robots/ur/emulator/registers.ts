/**
 * The emulated controller's RTDE register file: the values of every input variable (what clients write with `U`
 * packages) and of the general-purpose output registers (what programs write), plus who owns which input.
 *
 * Input names follow RTDE_INPUT_TYPES (types.ts). A real controller lets one RTDE connection own an input variable
 * at a time: a second connection's setup naming it gets `IN_USE` until the owner disconnects. The same connection
 * may name a variable in several of its recipes (ur_rtde's control interface puts input_int_register_0 into all 23).
 */
import { RTDE_INPUT_TYPES, type RtdeType, type RtdeValue } from '../rtde/types.js';

export const REGISTER_COUNT = 48;

function zeroOf(type: RtdeType): RtdeValue {
  switch (type) {
    case 'BOOL':
      return false;
    case 'UINT64':
      return 0n;
    case 'VECTOR3D':
      return [0, 0, 0];
    case 'VECTOR6D':
    case 'VECTOR6INT32':
    case 'VECTOR6UINT32':
      return [0, 0, 0, 0, 0, 0];
    default:
      return 0;
  }
}

/** The zero value of an RTDE type (false, 0, 0n, a zero vector). */
export function rtdeZero(type: RtdeType): RtdeValue {
  return zeroOf(type);
}

export class RegisterStore {
  readonly #inputs = new Map<string, RtdeValue>();
  readonly outputInt = new Int32Array(REGISTER_COUNT);
  readonly outputDouble = new Float64Array(REGISTER_COUNT);
  /** output_bit_register_64..127, index 0 = bit 64; bits 0..63 are the two 32-bit words. */
  readonly outputBits = new Uint8Array(128);
  /** Input variable -> owning connection id. */
  readonly #owners = new Map<string, number>();
  /** Counts `U` packages applied (all connections). */
  inputPackets = 0;

  constructor() {
    for (const [name, type] of Object.entries(RTDE_INPUT_TYPES)) this.#inputs.set(name, zeroOf(type));
  }

  /** An input variable's current value (zero until a client writes it); undefined for unknown names. */
  input(name: string): RtdeValue | undefined {
    return this.#inputs.get(name);
  }

  inputInt(index: number): number {
    const v = this.#inputs.get(`input_int_register_${index}`);
    return typeof v === 'number' ? v : 0;
  }

  inputDouble(index: number): number {
    const v = this.#inputs.get(`input_double_register_${index}`);
    return typeof v === 'number' ? v : 0;
  }

  /** Six consecutive input doubles from `index` (a joint vector). */
  inputDoubles6(index: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < 6; i++) out.push(this.inputDouble(index + i));
    return out;
  }

  /** Applies one client `U` package's values (names already validated against RTDE_INPUT_TYPES). */
  applyInputs(names: readonly string[], values: readonly RtdeValue[]): void {
    for (let i = 0; i < names.length; i++) this.#inputs.set(names[i] as string, values[i] as RtdeValue);
    this.inputPackets++;
  }

  /** The connection owning `name`, if any. */
  ownerOf(name: string): number | undefined {
    return this.#owners.get(name);
  }

  claim(name: string, connection: number): void {
    this.#owners.set(name, connection);
  }

  /** Frees every input `connection` owned (it disconnected). */
  releaseAll(connection: number): void {
    for (const [name, owner] of this.#owners) if (owner === connection) this.#owners.delete(name);
  }

  /** The value of an output_* / input_* register variable for an output recipe, undefined if not a register. */
  registerOutput(name: string): RtdeValue | undefined {
    if (name.startsWith('input_')) return this.#inputs.get(name);
    let m = /^output_int_register_(\d+)$/.exec(name);
    if (m) return this.outputInt[Number(m[1])] ?? 0;
    m = /^output_double_register_(\d+)$/.exec(name);
    if (m) return this.outputDouble[Number(m[1])] ?? 0;
    m = /^output_bit_register_(\d+)$/.exec(name);
    if (m) return (this.outputBits[Number(m[1])] ?? 0) !== 0;
    m = /^output_bit_registers(0|32)_to_(31|63)$/.exec(name);
    if (m) {
      const base = Number(m[1]);
      let word = 0;
      for (let i = 0; i < 32; i++) if ((this.outputBits[base + i] ?? 0) !== 0) word |= 1 << i;
      return word >>> 0;
    }
    return undefined;
  }
}
