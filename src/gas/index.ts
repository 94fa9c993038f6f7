export {
  GAS_SCHEDULE, MEMORY3D_SCHEDULE, NO_COMPUTE_SCHEDULE, gasCost, withSchedule, type GasOperation, type GasRow, type GasSchedule,
} from './schedule.js'
export { GasCounter, GasErrorCode, checkGas } from './counter.js'
