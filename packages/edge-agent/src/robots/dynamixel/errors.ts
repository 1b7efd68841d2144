/** Errors a Dynamixel servo reports in its status packet, as local errors naming the servo and the error. */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { ALERT_BIT, hardwareErrorNames, statusErrorName } from './packet.js';

/**
 * A status packet carried an error number (ERR bits 0–6) or the hardware alert bit (0x80).
 * `code` is `SERVO_ERROR`; `errorName` is e.g. `DATA_LIMIT_ERROR`, or `HARDWARE_ALERT` when only the alert bit
 * was set (then `hardwareErrors` lists the Hardware Error Status bits, when the driver could read them).
 */
export class DynamixelError extends OpenpiEdgeError {
  /** The servo that answered. */
  readonly id: number;
  /** The raw ERR byte. */
  readonly statusError: number;
  /** Name of the error number, or `HARDWARE_ALERT` for an alert-only status. */
  readonly errorName: string;
  /** Names of the Hardware Error Status bits (`OVERLOAD`, `OVERHEATING`...); empty if unknown. */
  readonly hardwareErrors: readonly string[];

  constructor(
    id: number,
    statusError: number,
    context: Record<string, unknown> = {},
    hardwareErrorStatus?: number,
  ) {
    const number = statusError & 0x7f;
    const errorName =
      number === 0 && statusError & ALERT_BIT ? 'HARDWARE_ALERT' : statusErrorName(statusError);
    const hardwareErrors = hardwareErrorStatus === undefined ? [] : hardwareErrorNames(hardwareErrorStatus);
    const alert = statusError & ALERT_BIT ? ' (hardware alert' : '';
    const hw = alert && hardwareErrors.length ? `: ${hardwareErrors.join(', ')})` : alert ? ')' : '';
    super('SERVO_ERROR', `Dynamixel id ${id}: ${errorName}${hw}`, {
      id,
      errorName,
      statusError,
      ...(hardwareErrorStatus === undefined ? {} : { hardwareErrorStatus, hardwareErrors }),
      ...context,
    });
    this.name = 'DynamixelError';
    this.id = id;
    this.statusError = statusError;
    this.errorName = errorName;
    this.hardwareErrors = hardwareErrors;
  }
}
