/** The program engine: instrumentation, the guest runtime and the bridge (docs/programs.md, "The engine"). */
export { GuestCode, type BridgeHost, type HostCall, type RunInput, type RunResult } from './guest_code.js'
export { BridgeStatus, GuestKind, HaltKind, HostOp, RunOutcome } from './bridge_protocol.js'
export { EngineErrorCode, RESERVED_PREFIX, instrument, type InstrumentedCode } from './instrument.js'
export * from './weights.js'
