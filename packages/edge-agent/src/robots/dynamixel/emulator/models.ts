/**
 * X-series models the ALOHA arms use, with the control-table defaults that differ between them.
 * Values from the ROBOTIS e-manual control tables (XM540-W270: Current Limit 2047, Velocity Limit 128;
 * XM430-W350: Current Limit 1193, Velocity Limit 200 on current firmware; shared items as in the ROBOTIS e-manual).
 */
import { ModelNumber } from '../control-table.js';

export interface ServoModel {
  readonly name: string;
  readonly modelNumber: number;
  /** Firmware Version (6) reported by Ping. */
  readonly firmwareVersion: number;
  /** Max of Current Limit (38), and its default. XL430 has no current sensing: 0 here. */
  readonly currentLimitMax: number;
  /** Default Velocity Limit (44), 0.229 rpm units. */
  readonly velocityLimit: number;
  /** No-load speed at 12 V (rpm): how fast the emulated shaft turns with an unlimited profile. */
  readonly noLoadRpm: number;
}

export const XM540_W270: ServoModel = {
  name: 'XM540-W270',
  modelNumber: ModelNumber.XM540_W270,
  firmwareVersion: 46,
  currentLimitMax: 2047,
  velocityLimit: 128,
  noLoadRpm: 30,
};
export const XM430_W350: ServoModel = {
  name: 'XM430-W350',
  modelNumber: ModelNumber.XM430_W350,
  firmwareVersion: 46,
  currentLimitMax: 1193,
  velocityLimit: 200,
  noLoadRpm: 46,
};
export const XL430_W250: ServoModel = {
  name: 'XL430-W250',
  modelNumber: ModelNumber.XL430_W250,
  firmwareVersion: 46,
  currentLimitMax: 0,
  velocityLimit: 265,
  noLoadRpm: 57,
};
export const XC430_W150: ServoModel = {
  name: 'XC430-W150',
  modelNumber: ModelNumber.XC430_W150,
  firmwareVersion: 46,
  currentLimitMax: 0,
  velocityLimit: 230,
  noLoadRpm: 70,
};

/** Every emulated model by Model Number. */
export const SERVO_MODELS: ReadonlyMap<number, ServoModel> = new Map(
  [XM540_W270, XM430_W350, XL430_W250, XC430_W150].map((m) => [m.modelNumber, m]),
);
