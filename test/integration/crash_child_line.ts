/** One JSON line of crash_child.mjs's stdout (its header lists when each is printed). */
export interface CrashChildLine {
  open?: number
  root?: string
  programs?: number
  setup?: string
  run?: number
  cycle?: number
  log?: string
  outcomes?: number
  dirtyPlanes?: number
  failed?: number
  ms?: number
  done?: number
  mailboxes?: string
  entries?: number
  error?: { code: string | null; message: string }
  cycleAfter?: number
  rootAfter?: string
  after?: string
  closed?: string
}
