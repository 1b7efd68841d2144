/**
 * The ALOHA gripper constants openpi's models were trained with: the ACT / openpi (ROS 1) PUPPET_* set and the
 * Interbotix `vx300s` swing-arm geometry. openpi's AlohaInputs/Outputs
 * (transforms/aloha.ts) compute with them; the ViperX driver and the ALOHA robot plugin re-export them, so this file
 * depends on nothing in robots/.
 */

/** Swing-arm gripper geometry from the motor config (metres). */
export interface GripperGeometry {
  hornRadius: number;
  armLength: number;
}

/** One generation of ALOHA gripper constants. Positions in m, joints in rad. */
export interface GripperConstants {
  positionOpen: number;
  positionClose: number;
  jointOpen: number;
  jointClose: number;
}

/** ACT / openpi (ROS 1) PUPPET_* constants. */
export const PUPPET_GRIPPER: GripperConstants = {
  positionOpen: 0.058,
  positionClose: 0.01844,
  jointOpen: 1.491,
  jointClose: -0.6213,
};

/** Interbotix `vx300s` gripper (horn radius 0.022 m, arm length 0.036 m): PUPPET_* positions follow from it. */
export const VX300S_GRIPPER: GripperGeometry = { hornRadius: 0.022, armLength: 0.036 };
