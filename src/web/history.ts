/**
 * What the inspector remembers of the cycles it saw run: the last CYCLES_KEPT cycle entries and the last
 * OUTCOMES_KEPT message outcomes, in ring buffers fed by the runtime's events (whoever ran the cycle).
 */
import { isErrorReply, replyCodeName } from '../message/index.js'
import type { MessageOutcome } from '../protocol/index.js'
import type { CycleReport, Runtime, RuntimeEvents } from '../scheduler/index.js'
import { CYCLES_KEPT, OUTCOMES_KEPT, RECENT_DIRTY_CYCLES } from './limits.js'
import { liveCycleEntry, outcomeView, recordedCycleEntry, type CycleEntry, type DirtyPlanes, type OutcomeView } from './views.js'

/** A fixed-capacity buffer that drops its oldest item when full. */
export class Ring<T> {
  readonly #items: (T | undefined)[]
  #next = 0
  #size = 0

  constructor(readonly capacity: number) {
    this.#items = new Array<T | undefined>(capacity)
  }

  get size(): number {
    return this.#size
  }

  push(item: T): void {
    this.#items[this.#next] = item
    this.#next = (this.#next + 1) % this.capacity
    this.#size = Math.min(this.#size + 1, this.capacity)
  }

  /** At most `limit` items, newest first. */
  newest(limit = this.#size): T[] {
    const out: T[] = []
    for (let i = 1; i <= Math.min(limit, this.#size); i += 1) out.push(this.#items[(this.#next - i + this.capacity) % this.capacity]!)
    return out
  }
}

/** The cycles and outcomes seen live. Listens to `rt` from construction until `detach`. */
export class History {
  readonly #rt: Runtime
  readonly #cycles = new Ring<CycleEntry>(CYCLES_KEPT)
  readonly #outcomes = new Ring<OutcomeView>(OUTCOMES_KEPT)
  // What the running cycle's `message` and `planes` events said; its `cycle` event comes last and takes them.
  #failures: Record<string, number> = {}
  #dirty: DirtyPlanes[] = []
  readonly #onCycleEntry: (entry: CycleEntry) => void

  constructor(rt: Runtime, onCycleEntry: (entry: CycleEntry) => void) {
    this.#rt = rt
    this.#onCycleEntry = onCycleEntry
    rt.on('message', this.#onMessage)
    rt.on('planes', this.#onPlanes)
    rt.on('cycle', this.#onCycle)
  }

  detach(): void {
    this.#rt.off('message', this.#onMessage)
    this.#rt.off('planes', this.#onPlanes)
    this.#rt.off('cycle', this.#onCycle)
  }

  readonly #onMessage = (outcome: MessageOutcome): void => {
    // The runtime emits a cycle's outcomes after committing it: its number is the runtime's cycle now.
    this.#outcomes.push(outcomeView(this.#rt.cycle, outcome))
    if (outcome.replyCode !== null && isErrorReply(outcome.replyCode)) {
      const name = replyCodeName(outcome.replyCode)
      this.#failures[name] = (this.#failures[name] ?? 0) + 1
    }
  }

  readonly #onPlanes = (change: RuntimeEvents['planes'][0]): void => {
    this.#dirty.push({ programId: change.programId, planes: change.planes })
  }

  readonly #onCycle = (report: CycleReport): void => {
    const entry = liveCycleEntry(report, this.#failures, this.#dirty)
    this.#failures = {}
    this.#dirty = []
    this.#cycles.push(entry)
    this.#onCycleEntry(entry)
  }

  /** The live entry of cycle `cycle`, if it is still kept. */
  liveCycle(cycle: number): CycleEntry | undefined {
    return this.#cycles.newest().find((entry) => entry.cycle === cycle)
  }

  /**
   * The last `limit` committed cycles, newest first: live entries where kept, else from the cycles' stored
   * records (without timing, queue length, failures or dirty planes).
   */
  cycles(limit: number): CycleEntry[] {
    const live = new Map(this.#cycles.newest().map((entry) => [entry.cycle, entry]))
    const out: CycleEntry[] = []
    const oldest = Math.max(1, this.#rt.cycle - limit + 1)
    for (let cycle = this.#rt.cycle; cycle >= oldest; cycle -= 1) {
      const entry = live.get(cycle) ?? recordOf(this.#rt, cycle)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }

  outcomes(limit: number): OutcomeView[] {
    return this.#outcomes.newest(limit)
  }

  /** The planes of `programId` written in the last RECENT_DIRTY_CYCLES live cycles, each with the last cycle that did. */
  recentDirty(programId: string): Record<number, number> {
    const out: Record<number, number> = {}
    for (const entry of this.#cycles.newest(RECENT_DIRTY_CYCLES)) {
      for (const { programId: id, planes } of entry.dirty) {
        if (id !== programId) continue
        for (const plane of planes) out[plane] ??= entry.cycle
      }
    }
    return out
  }
}

function recordOf(rt: Runtime, cycle: number): CycleEntry | undefined {
  const record = rt.cycleRecord(cycle)
  return record === undefined ? undefined : recordedCycleEntry(record)
}
