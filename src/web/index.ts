// The web inspector's server: its facade (docs/inspector.md).
export { startInspector, type Inspector, type InspectorOptions } from './server.js'
export { ServeErrorCode } from './errors.js'
export { HOST_DEFAULT, INTERVAL_MS_DEFAULT, INTERVAL_MS_MAX, PORT_DEFAULT, QUERY_GAS_MAX } from './limits.js'
export type { CycleEntry, MessageView, OutcomeView, ProgramSummary } from './views.js'
