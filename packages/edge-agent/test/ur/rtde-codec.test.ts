import { describe, expect, it } from 'vitest';
import {
  checkRecipe,
  decodeData,
  decodeSetupOutputs,
  decodeSetupReply,
  decodeTextMessage,
  decodeVersion,
  encodeData,
  encodePackage,
  encodeSetupOutputs,
  encodeSetupReply,
  encodeTextMessage,
  encodeVersion,
  maxOutputHz,
  RTDE_PACKAGE,
  RtdeFramer,
} from '../../src/robots/ur/rtde/codec.js';
import { RTDE_INPUT_TYPES, RTDE_OUTPUT_TYPES } from '../../src/robots/ur/rtde/types.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const d157 = '3FF91EB851EB851F';
const m157 = 'BFF91EB851EB851F';
const zero = '0000000000000000';

// Byte vectors built from the framing rules (uint16 size incl. header, uint8 type, big-endian payload).
describe('RTDE codec: byte vectors', () => {
  it('request protocol v2 and its accept', () => {
    expect(encodePackage(RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION, Buffer.from([0, 2]))).toEqual(
      hex('00 05 56 00 02'),
    );
    const [p] = new RtdeFramer().push(hex('00 04 56 01'));
    expect(p?.type).toBe(86);
    expect(p?.payload).toEqual(hex('01'));
  });

  it('get controller version 5.11.1.108', () => {
    expect(encodePackage(RTDE_PACKAGE.GET_URCONTROL_VERSION)).toEqual(hex('00 03 76'));
    const reply = encodePackage(
      RTDE_PACKAGE.GET_URCONTROL_VERSION,
      encodeVersion({ major: 5, minor: 11, bugfix: 1, build: 108 }),
    );
    expect(reply).toEqual(hex('00 13 76 00 00 00 05 00 00 00 0B 00 00 00 01 00 00 00 6C'));
    const v = decodeVersion(reply.subarray(3));
    expect(v).toEqual({ major: 5, minor: 11, bugfix: 1, build: 108 });
    expect(maxOutputHz(v)).toBe(500);
    expect(maxOutputHz({ major: 3, minor: 15, bugfix: 7, build: 106 })).toBe(125);
  });

  it('setup outputs at 125 Hz and the reply', () => {
    const req = encodePackage(RTDE_PACKAGE.SETUP_OUTPUTS, encodeSetupOutputs(125, ['timestamp', 'actual_q']));
    expect(req).toEqual(
      hex('00 1D 4F 40 5F 40 00 00 00 00 00 74 69 6D 65 73 74 61 6D 70 2C 61 63 74 75 61 6C 5F 71'),
    );
    expect(decodeSetupOutputs(req.subarray(3))).toEqual({
      frequencyHz: 125,
      names: ['timestamp', 'actual_q'],
    });
    const reply = encodePackage(RTDE_PACKAGE.SETUP_OUTPUTS, encodeSetupReply(1, ['DOUBLE', 'VECTOR6D']));
    expect(reply).toEqual(hex('00 13 4F 01 44 4F 55 42 4C 45 2C 56 45 43 54 4F 52 36 44'));
    expect(decodeSetupReply(reply.subarray(3))).toEqual({ recipeId: 1, types: ['DOUBLE', 'VECTOR6D'] });
  });

  it("a trailing comma (ur_rtde's lists) yields no empty name", () => {
    const req = encodeSetupOutputs(500, ['timestamp', 'actual_q', '']);
    expect(decodeSetupOutputs(req).names).toEqual(['timestamp', 'actual_q']);
  });

  it('setup inputs reply and an input data package', () => {
    const reply = encodePackage(RTDE_PACKAGE.SETUP_INPUTS, encodeSetupReply(2, ['DOUBLE', 'INT32']));
    expect(reply).toEqual(hex('00 10 49 02 44 4F 55 42 4C 45 2C 49 4E 54 33 32'));
    const data = encodePackage(RTDE_PACKAGE.DATA_PACKAGE, encodeData(2, ['DOUBLE', 'INT32'], [0.25, 7]));
    expect(data).toEqual(hex('00 10 55 02 3F D0 00 00 00 00 00 00 00 00 00 07'));
  });

  it('start, pause', () => {
    expect(encodePackage(RTDE_PACKAGE.START)).toEqual(hex('00 03 53'));
    expect(encodePackage(RTDE_PACKAGE.PAUSE)).toEqual(hex('00 03 50'));
  });

  it('output data: recipe 1, t = 1.5, q = [0, -1.57, 1.57, 0, 1.57, 0]', () => {
    const q = [0, -1.57, 1.57, 0, 1.57, 0];
    const pkg = encodePackage(RTDE_PACKAGE.DATA_PACKAGE, encodeData(1, ['DOUBLE', 'VECTOR6D'], [1.5, q]));
    expect(pkg).toEqual(hex(`00 3C 55 01 3FF8000000000000 ${zero} ${m157} ${d157} ${zero} ${d157} ${zero}`));
    expect(decodeData(pkg.subarray(3), ['DOUBLE', 'VECTOR6D'])).toEqual([1.5, q]);
  });
});

describe('RTDE codec: framing and errors', () => {
  it('splits packages across arbitrary chunk boundaries', () => {
    const stream = Buffer.concat([
      hex('00 04 56 01'),
      hex('00 03 53'),
      encodePackage(85, encodeData(1, ['INT32'], [-3])),
    ]);
    for (let cut = 1; cut < stream.length; cut++) {
      const f = new RtdeFramer();
      const got = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      expect(got.map((p) => p.type)).toEqual([86, 83, 85]);
      expect(f.pending).toBe(0);
    }
  });

  it('a size below the header is a corrupt stream (RTDE_ERROR)', () => {
    expect(() => new RtdeFramer().push(hex('00 01 56'))).toThrow(/package size 1/);
  });

  it('a data package of the wrong length names both lengths', () => {
    expect(() => decodeData(hex('01 00 00'), ['DOUBLE'])).toThrow(/2 bytes.*recipe needs 9|3 bytes.*needs 9/);
  });

  it('NOT_FOUND and IN_USE name the variable', () => {
    expect(checkRecipe(['timestamp', 'bogus'], ['DOUBLE', 'NOT_FOUND'])).toEqual({
      ok: false,
      variable: 'bogus',
      reason: 'NOT_FOUND',
    });
    expect(checkRecipe(['input_int_register_24'], ['IN_USE'])).toMatchObject({ ok: false, reason: 'IN_USE' });
    expect(checkRecipe(['timestamp'], ['DOUBLE'])).toEqual({ ok: true, types: ['DOUBLE'] });
  });

  it('every type round-trips', () => {
    const types = [
      'BOOL',
      'UINT8',
      'UINT32',
      'INT32',
      'UINT64',
      'DOUBLE',
      'VECTOR3D',
      'VECTOR6D',
      'VECTOR6INT32',
      'VECTOR6UINT32',
    ] as const;
    const values = [
      true,
      200,
      4_000_000_000,
      -5,
      2n ** 63n + 1n,
      -0.5,
      [1, 2, 3],
      [1, 2, 3, 4, 5, 6],
      [-1, 2, -3, 4, -5, 6],
      [1, 2, 3, 4, 5, 6],
    ];
    const buf = encodeData(7, types, values);
    expect(decodeData(buf, types)).toEqual(values);
  });

  it('text messages (v2) round-trip with their level', () => {
    const m = { message: 'Protective stop: C153A1', source: 'Controller', level: 'error' as const };
    expect(decodeTextMessage(encodeTextMessage(m))).toEqual(m);
  });

  it('the variable tables know the servo recipe', () => {
    expect(RTDE_OUTPUT_TYPES.actual_q).toBe('VECTOR6D');
    expect(RTDE_OUTPUT_TYPES.safety_status_bits).toBe('UINT32');
    expect(RTDE_OUTPUT_TYPES.output_int_register_24).toBe('INT32');
    expect(RTDE_INPUT_TYPES.input_double_register_29).toBe('DOUBLE');
    expect(RTDE_INPUT_TYPES.actual_q).toBeUndefined();
  });
});
