/**
 * The page's one live connection: an EventSource on /api/events. It keeps the latest status and the recent
 * cycles, and tells subscribers (the header, the timeline, an open program) about each new cycle. EventSource
 * reconnects by itself after a drop; the connection state is shown in the header.
 */
import { get, type CycleEntry, type Status } from './api.js'

/** Cycles kept for the timeline: the API's maximum page. */
export const CYCLES_KEPT_MAX = 500

type Listener<T> = (value: T) => void

class Live {
  status: Status | null = null
  connected = false
  /** Oldest first. */
  readonly cycles: CycleEntry[] = []
  readonly #statusListeners = new Set<Listener<Status>>()
  readonly #cycleListeners = new Set<Listener<CycleEntry>>()
  readonly #connectionListeners = new Set<Listener<boolean>>()
  #source: EventSource | null = null
  #loaded: Promise<void> | null = null

  start(): void {
    if (this.#source) return
    const source = new EventSource('/api/events')
    this.#source = source
    source.addEventListener('open', () => this.#setConnected(true))
    source.addEventListener('error', () => this.#setConnected(false))
    source.addEventListener('status', (event) => {
      this.status = JSON.parse((event as MessageEvent<string>).data) as Status
      for (const listener of this.#statusListeners) listener(this.status)
    })
    source.addEventListener('cycle', (event) => this.addCycle(JSON.parse((event as MessageEvent<string>).data) as CycleEntry))
  }

  /**
   * Fetches the status now: the stream brings one only after each cycle, so a message sent meanwhile (from this
   * page or elsewhere) would not show in the header's queue length until the next cycle.
   */
  refreshStatus(): void {
    get<Status>('/api/status').then((status) => {
      this.status = status
      for (const listener of this.#statusListeners) listener(status)
    }, () => { /* the stream's state shows in the header; the next status event catches up */ })
  }

  /** Loads the recent history once (the stream only brings cycles from now on). */
  loadHistory(): Promise<void> {
    this.#loaded ??= get<{ cycles: CycleEntry[] }>(`/api/cycles?limit=${CYCLES_KEPT_MAX}`).then(({ cycles }) => {
      const known = new Set(this.cycles.map((c) => c.cycle))
      const older = cycles.filter((c) => !known.has(c.cycle)).reverse()
      this.cycles.unshift(...older)
      this.cycles.sort((a, b) => a.cycle - b.cycle)
      this.cycles.splice(0, Math.max(0, this.cycles.length - CYCLES_KEPT_MAX))
    }).catch((error: unknown) => {
      this.#loaded = null
      throw error
    })
    return this.#loaded
  }

  /** A cycle from the stream, or from POST /api/cycle (whichever arrives first; the other is ignored). */
  addCycle(entry: CycleEntry): void {
    const last = this.cycles[this.cycles.length - 1]
    if (last && entry.cycle <= last.cycle) return
    this.cycles.push(entry)
    if (this.cycles.length > CYCLES_KEPT_MAX) this.cycles.shift()
    for (const listener of this.#cycleListeners) listener(entry)
  }

  onStatus(listener: Listener<Status>): () => void {
    this.#statusListeners.add(listener)
    return () => this.#statusListeners.delete(listener)
  }

  onCycle(listener: Listener<CycleEntry>): () => void {
    this.#cycleListeners.add(listener)
    return () => this.#cycleListeners.delete(listener)
  }

  onConnection(listener: Listener<boolean>): () => void {
    this.#connectionListeners.add(listener)
    return () => this.#connectionListeners.delete(listener)
  }

  #setConnected(connected: boolean): void {
    if (connected === this.connected) return
    this.connected = connected
    for (const listener of this.#connectionListeners) listener(connected)
  }
}

export const live = new Live()
