/**
 * ProgramMemory: one program's persistent three-dimensional memory.
 *
 * Layout: up to 256 regions (static, heap or stack), each a 4 GiB linear space of 64 KiB planes; placement
 * rules are in region.ts. A plane holds bytes only once written (it reads as zeros before and costs nothing).
 *
 * Bookkeeping, all keyed by absolute (packed) addresses:
 *   #planeAllocs plane index -> ascending starts (and sizes) of the allocations that begin in that plane;
 *              keyed by plane index, a small integer, because packed addresses above 2^30 are boxed numbers in
 *              V8 and make Map keys slow
 *   #spans     plane index -> start of the (plane-aligned, multi-plane) allocation covering it from before
 *   #refs      plane index -> number of live allocations covering the plane; at 0 the plane is dropped
 *   #freeSize / #freeEnd / region.bins: coalesced heap free blocks, binned by size class, bins ascending by
 *              address. Free space below a region's top is exactly the gaps between live allocations, so the
 *              free structure is a function of the allocation set: memory rebuilt from metadata allocates
 *              exactly as the original would (determinism across restarts).
 *
 * Transactions (one per message): every bookkeeping mutation logs its inverse while a transaction is open, and
 * a plane's bytes are snapshotted on its first write (copy-on-write), so rollback costs what the message
 * touched, not what the memory holds.
 */
import {
  ALLOCATION_SIZE_MAX_BYTES_DEFAULT, DIRTY_CHUNK_SIZE_BYTES, PLANE_SIZE_BYTES, PROGRAM_PLANES_MAX_DEFAULT, REGION_COUNT_MAX,
  REGION_SIZE_BYTES, PLANES_PER_REGION_MAX,
} from '../constants.js'
import { isBytes } from '../bytes.js'
import { StrataError, assert, describeValue } from '../errors.js'
import { GAS_SCHEDULE, GasCounter, gasCost, type GasSchedule } from '../gas/index.js'
import { formatAddress, type Address3D, type PlaneKey } from './address.js'
import { planRegionCompaction, type RegionCompactionPlan } from './compaction.js'
import { MemoryErrorCode } from './errors.js'
import {
  RegionType, SIZE_CLASS_COUNT, footprintOf, isRegionType, placeAt, planeSpan, sizeClassOf,
} from './region.js'
import { SortedBin, insertSorted, lowerBound, removeSorted } from './sorted.js'
import type { AllocationRecord, DirtySet, MemoryView } from './view.js'

/**
 * Free blocks examined per size class before moving to a larger class: bounds the work of one `alloc`
 * (no scan of every free block) while still preferring a close fit; blocks two classes up always fit.
 */
export const FREE_SCAN_MAX = 16

/**
 * Range undo saved for one plane in one transaction before it switches to a single whole-plane copy: past 8 KiB of
 * ranges, one 64 KiB copy is cheaper than more of them (a message rewriting a plane in a loop stops paying per
 * write). Rollback replays undo backwards, so the whole copy, taken after the earlier ranges, is restored first.
 */
export const RANGE_UNDO_BYTES_MAX_PER_PLANE = 8192

export interface ProgramMemoryOptions {
  /** Meters every operation; defaults to an unlimited counter. */
  readonly gas?: GasCounter
  readonly schedule?: GasSchedule
  /** Planes the program may hold (its memory budget). */
  readonly planesMax?: number
  /** The largest single allocation. */
  readonly allocationSizeMaxBytes?: number
  /**
   * Supplies the committed bytes of a materialized plane that is not resident (lazy loading from the store).
   * Required when the memory is restored from metadata whose planes are not provided otherwise. The memory takes
   * ownership of the returned array and writes into it: return a copy, never a shared buffer.
   */
  readonly planeSource?: (key: PlaneKey) => Uint8Array
}

export const GAS_CLASSES = ['alloc', 'free', 'load', 'store', 'copy', 'compact', 'page', 'query'] as const
export type GasClass = (typeof GAS_CLASSES)[number]

export interface RegionStats {
  readonly region: number
  readonly type: RegionType
  readonly allocations: number
  readonly liveBytes: number
  readonly planesInUse: number
  /** Bytes from the region's base to its high-water mark. */
  readonly spanBytes: number
  /** See RegionCompactionPlan.fragmentation (docs/memory.md). */
  readonly fragmentation: number
}

export interface MemoryStats {
  readonly allocations: number
  readonly liveBytes: number
  /** Planes that hold data (persisted for static and heap). */
  readonly planesMaterialized: number
  /** Planes covered by live allocations: what counts against the budget. */
  readonly planesInUse: number
  readonly planesMax: number
  readonly regions: readonly RegionStats[]
  /** Gas charged by this memory per operation class (net of compaction refunds under 'compact'). */
  readonly gasByClass: Readonly<Record<GasClass, number>>
}

export interface CompactionReport {
  readonly regions: readonly RegionCompactionPlan[]
  readonly gasCost: number
  readonly gasRefund: number
}

export interface CompactionResult {
  /** Old start address -> new start address, for every allocation that moved. */
  readonly relocations: Map<number, number>
  readonly planesFreed: number
  readonly bytesMoved: number
  readonly gasCharged: number
  readonly gasRefunded: number
}

interface RegionState {
  readonly index: number
  readonly type: RegionType
  /** Absolute address one past the highest live footprint; the region's base when empty. */
  top: number
  /**
   * The highest `top` ever reached: memory below it that no live allocation covers was handed out and
   * released, so touching it is USE_AFTER_FREE / DOUBLE_FREE rather than OUT_OF_BOUNDS. Persisted.
   */
  peak: number
  allocCount: number
  liveBytes: number
  /** Heap only: per size class, ascending starts of free blocks. */
  readonly bins: SortedBin[] | undefined
  /** Free blocks in the bins: the bump path skips the bins when there are none. */
  freeCount: number
  /** Stack only: live starts in push order. */
  readonly stack: number[] | undefined
}

/** A plane's state before the open transaction created or dropped it: bytes, absent, or "committed in the source". */
type PlaneSnapshot = Uint8Array | null | 'source'

/**
 * Byte undo, in the order things happened: the previous bytes of a written range of a plane that existed before
 * the transaction (offset >= 0), or the whole previous state of a plane the transaction created or dropped
 * (offset -1). Rollback replays it backwards, so its cost follows the bytes a message wrote, not 64 KiB per plane.
 */
type ByteUndo =
  | { readonly key: number; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly key: number; readonly offset: -1; readonly snapshot: PlaneSnapshot }

/** Allocations that begin in one plane, ascending; sizes[i] belongs to starts[i]. */
interface PlaneAllocs {
  readonly starts: number[]
  readonly sizes: number[]
}

// Undo log opcodes. The log is a flat number array (arguments, then the opcode) so that a transaction allocates
// no closure per mutation; rollback pops it backwards.
const UNDO_REGION_CREATED = 1 // index
const UNDO_TOP = 2 // index, previous top, previous peak
const UNDO_FREE_INSERTED = 3 // index, start, size
const UNDO_FREE_REMOVED = 4 // index, start, size
const UNDO_ALLOC_ADDED = 5 // index, start, size
const UNDO_ALLOC_REMOVED = 6 // index, start, size
const UNDO_DIRTY_PLANE = 7 // plane key
const UNDO_FRESH_PLANE = 8 // plane key

const MAX_RANGE_LENGTH = REGION_SIZE_BYTES

export class ProgramMemory implements MemoryView {
  #gas: GasCounter
  readonly #schedule: GasSchedule
  readonly #planesMax: number
  readonly #allocationSizeMax: number
  readonly #planeSource: ((key: PlaneKey) => Uint8Array) | undefined

  readonly #regions: (RegionState | undefined)[] = new Array(REGION_COUNT_MAX).fill(undefined)
  /** Indexes of the regions in use, ascending. */
  readonly #live: number[] = []
  /** Stack regions in use (usually 0: the end of a message then has no stack to reset). */
  #stackRegions = 0
  readonly #planeAllocs = new Map<number, PlaneAllocs>()
  readonly #spans = new Map<number, number>()
  readonly #refs = new Map<number, number>()
  readonly #freeSize = new Map<number, number>()
  readonly #freeEnd = new Map<number, number>()

  readonly #resident = new Map<number, Uint8Array>()
  readonly #materialized = new Set<number>()

  readonly #accessed = new Set<number>()
  readonly #written = new Set<number>()
  readonly #dirtyPlanes = new Set<number>()
  /** Dirty planes' written 4 KiB chunks (may over-approximate after a rollback: extra chunks are unchanged). */
  readonly #dirtyChunks = new Map<number, number>()
  /** Planes created since the last takeDirty (exact: additions are undone on rollback). */
  readonly #freshPlanes = new Set<number>()
  /** Starts of allocations created or freed, in order, with repeats (deduplicated by takeDirty). */
  #dirtyAllocs: number[] = []
  /** Length of #dirtyAllocs when the open transaction began (rollback truncates to it). */
  #dirtyAllocsMark = 0

  #txn = false
  readonly #undo: number[] = []
  readonly #undoBytes: ByteUndo[] = []
  /** Planes whose whole previous state is in #undoBytes: writes to them need no range undo. */
  readonly #wholePlaneSaved = new Set<number>()
  /** Range-undo bytes saved per plane in the open transaction. */
  readonly #rangeUndoBytes = new Map<number, number>()

  readonly #gasByClass: Record<GasClass, number> = {
    alloc: 0, free: 0, load: 0, store: 0, copy: 0, compact: 0, page: 0, query: 0,
  }

  constructor(options: ProgramMemoryOptions = {}) {
    this.#gas = options.gas ?? new GasCounter()
    this.#schedule = options.schedule ?? GAS_SCHEDULE
    this.#planesMax = checkCount('planesMax', options.planesMax ?? PROGRAM_PLANES_MAX_DEFAULT,
      REGION_COUNT_MAX * PLANES_PER_REGION_MAX)
    this.#allocationSizeMax = checkCount('allocationSizeMaxBytes',
      options.allocationSizeMaxBytes ?? ALLOCATION_SIZE_MAX_BYTES_DEFAULT, REGION_SIZE_BYTES)
    this.#planeSource = options.planeSource
  }

  // ---- configuration ---------------------------------------------------------------------------------------

  get gas(): GasCounter {
    return this.#gas
  }

  /** Meters subsequent operations with `counter` (the executor gives each message its own). */
  set gas(counter: GasCounter) {
    this.#gas = counter
  }

  get schedule(): GasSchedule {
    return this.#schedule
  }

  get planesMax(): number {
    return this.#planesMax
  }

  get allocationSizeMaxBytes(): number {
    return this.#allocationSizeMax
  }

  get inTransaction(): boolean {
    return this.#txn
  }

  // ---- allocation ------------------------------------------------------------------------------------------

  /** Allocates `size` bytes (zeroed) in a region of `regionType` and returns the start address. */
  alloc(size: number, regionType: RegionType = RegionType.HEAP): Address3D {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > this.#allocationSizeMax) {
      throw new StrataError(MemoryErrorCode.INVALID_ALLOCATION_SIZE,
        `allocation size must be an integer in 1..${this.#allocationSizeMax}, got ${describeValue(size)}`,
        { size })
    }
    if (!isRegionType(regionType)) {
      throw new StrataError(MemoryErrorCode.WRONG_REGION_TYPE,
        `region type must be 'static', 'heap' or 'stack', got ${describeValue(regionType)}`, { regionType })
    }
    const footprint = footprintOf(size)
    const placement = this.#findPlacement(size, footprint, regionType)
    const [firstPlane, endPlane] = planeSpan(placement.start, footprint)
    let newPlanes = 0
    for (let p = firstPlane; p < endPlane; p += 1) if (!this.#refs.has(p)) newPlanes += 1
    if (this.#refs.size + newPlanes > this.#planesMax) {
      throw new StrataError(MemoryErrorCode.MEMORY_BUDGET_EXCEEDED,
        `allocating ${size} bytes needs ${newPlanes} more plane(s); ${this.#refs.size} of ${this.#planesMax} are in use`,
        { size, planesInUse: this.#refs.size, planesMax: this.#planesMax })
    }
    this.#charge('alloc', gasCost(this.#schedule, 'alloc', size), 0)

    let region = placement.region
    if (region === undefined) region = this.#createRegion(placement.regionIndex, regionType)
    if (placement.blockStart >= 0) {
      this.#carveFree(region, placement.blockStart, placement.start, footprint)
    } else {
      if (region.type === RegionType.HEAP && placement.start > region.top) {
        this.#insertFree(region, region.top, placement.start - region.top)
      }
      this.#setTop(region, placement.start + footprint)
    }
    this.#addAllocation(region, placement.start, size)
    return placement.start as Address3D
  }

  /** Frees the allocation starting at `address`; its bytes read as zeros if allocated again. */
  free(address: number): void {
    this.#checkAddress(address, 'address')
    const size = this.#sizeAt(address)
    if (size < 0) throw this.#freeMiss(address)
    const region = this.#regions[regionIndexOf(address)]!
    if (region.type === RegionType.STATIC) {
      throw new StrataError(MemoryErrorCode.WRONG_REGION_TYPE,
        `static allocations are never freed: ${formatAddress(address)} is in static region ${region.index}`,
        { address })
    }
    if (region.type === RegionType.STACK && region.stack![region.stack!.length - 1] !== address) {
      throw new StrataError(MemoryErrorCode.STACK_ORDER,
        `stack allocations are freed last-in first-out; ${formatAddress(address)} is not the most recent`,
        { address })
    }
    // Zeroing writes only planes that keep other allocations; planes left empty are dropped whole.
    const [first, end] = planeSpan(address, size)
    let pageGas = 0
    for (let p = first; p < end; p += 1) {
      if (this.#refs.get(p)! > 1 && this.#hasData(p)) pageGas += this.#pageFee(p, true)
    }
    this.#charge('free', gasCost(this.#schedule, 'free'), pageGas)

    this.#removeAllocation(region, address, size)
    for (let p = first; p < end; p += 1) {
      if (this.#refs.has(p) && this.#hasData(p)) this.#markAccess(p, true)
    }
    this.#zeroRange(address, size)
    if (region.type === RegionType.HEAP) {
      this.#releaseHeapSpace(region, address, footprintOf(size))
    } else {
      const stack = region.stack!
      const last = stack[stack.length - 1]
      this.#setTop(region, last === undefined ? regionBase(region.index) : last + footprintOf(this.#sizeAt(last)))
    }
  }

  // ---- access ----------------------------------------------------------------------------------------------

  /** Copies `length` bytes starting at `address`; the range must lie inside one live allocation. */
  load(address: number, length: number): Uint8Array {
    this.#checkRange(address, length)
    const first = Math.floor(address / PLANE_SIZE_BYTES)
    const last = Math.floor((address + length - 1) / PLANE_SIZE_BYTES)
    if (length > 0 && first === last) {
      // Fast path: one plane.
      const firstAccess = !this.#accessed.has(first)
      const fee = firstAccess ? this.#pageFee(first, false) : 0
      this.#charge('load', this.#schedule.load.base + this.#schedule.load.perByte * length, fee)
      if (firstAccess) this.#accessed.add(first)
      const offset = address - first * PLANE_SIZE_BYTES
      const bytes = this.#readablePlane(first)
      return bytes === undefined ? new Uint8Array(length) : bytes.slice(offset, offset + length)
    }
    let fee = 0
    for (let p = first; p <= last && length > 0; p += 1) fee += this.#pageFee(p, false)
    this.#charge('load', gasCost(this.#schedule, 'load', length), fee)
    for (let p = first; p <= last && length > 0; p += 1) this.#markAccess(p, false)
    const out = new Uint8Array(length)
    this.#readInto(address, out)
    return out
  }

  /**
   * Copies `target.length` bytes starting at `address` into `target`, with the same checks and gas as `load`.
   * No array is allocated: for loops that read many values into one buffer.
   */
  loadInto(address: number, target: Uint8Array): void {
    if (!(target instanceof Uint8Array) && !isBytes(target)) {
      throw new StrataError(MemoryErrorCode.INVALID_ARGUMENT,
        `loadInto expects a Uint8Array target, got ${describeValue(target)}`, { target: describeValue(target) })
    }
    const length = target.length
    this.#checkRange(address, length)
    const first = Math.floor(address / PLANE_SIZE_BYTES)
    const last = Math.floor((address + length - 1) / PLANE_SIZE_BYTES)
    let fee = 0
    for (let p = first; p <= last && length > 0; p += 1) fee += this.#pageFee(p, false)
    this.#charge('load', this.#schedule.load.base + this.#schedule.load.perByte * length, fee)
    for (let p = first; p <= last && length > 0; p += 1) this.#markAccess(p, false)
    if (length > 0 && first === last) {
      const offset = address - first * PLANE_SIZE_BYTES
      const bytes = this.#readablePlane(first)
      if (bytes === undefined) target.fill(0)
      else target.set(bytes.subarray(offset, offset + length))
      return
    }
    target.fill(0)
    this.#readInto(address, target)
  }

  /** Writes `bytes` at `address`; the range must lie inside one live allocation. */
  store(address: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array) && !isBytes(bytes)) {
      throw new StrataError(MemoryErrorCode.INVALID_ARGUMENT,
        `store expects a Uint8Array, got ${describeValue(bytes)}`, { bytes: describeValue(bytes) })
    }
    const length = bytes.length
    this.#checkRange(address, length)
    if (length === 0) {
      this.#charge('store', this.#schedule.store.base, 0)
      return
    }
    const first = Math.floor(address / PLANE_SIZE_BYTES)
    const last = Math.floor((address + length - 1) / PLANE_SIZE_BYTES)
    let fee = 0
    for (let p = first; p <= last; p += 1) fee += this.#pageFee(p, true)
    this.#charge('store', this.#schedule.store.base + this.#schedule.store.perByte * length, fee)
    if (first === last) {
      this.#markAccess(first, true)
      const offset = address - first * PLANE_SIZE_BYTES
      this.#writablePlane(first, offset, length).set(bytes, offset)
      return
    }
    for (let p = first; p <= last; p += 1) this.#markAccess(p, true)
    this.#writeFrom(address, bytes)
  }

  /** Copies `length` bytes from `source` to `target` (overlap allowed); each range inside one allocation. */
  copy(source: number, target: number, length: number): void {
    this.#checkRange(source, length, 'source')
    this.#checkRange(target, length, 'target')
    if (length === 0) {
      this.#charge('copy', this.#schedule.copy.base, 0)
      return
    }
    const [sFirst, sEnd] = planeSpan(source, length)
    const [tFirst, tEnd] = planeSpan(target, length)
    let fee = 0
    for (let p = sFirst; p < sEnd; p += 1) fee += this.#pageFee(p, false)
    for (let p = tFirst; p < tEnd; p += 1) {
      // A plane in both ranges pays its first-access fee once.
      fee += p >= sFirst && p < sEnd ? this.#pageFee(p, true) - this.#pageFee(p, false) : this.#pageFee(p, true)
    }
    this.#charge('copy', gasCost(this.#schedule, 'copy', length), fee)
    for (let p = sFirst; p < sEnd; p += 1) this.#markAccess(p, false)
    for (let p = tFirst; p < tEnd; p += 1) this.#markAccess(p, true)
    const buffer = new Uint8Array(length)
    this.#readInto(source, buffer)
    this.#writeFrom(target, buffer)
  }

  /** Size of the live allocation containing `address`, or undefined. Charged as `query`. */
  sizeOf(address: number): number | undefined {
    this.#checkAddress(address, 'address')
    this.#charge('query', gasCost(this.#schedule, 'query'), 0)
    const start = this.#containing(address)
    return start < 0 ? undefined : this.#sizeAt(start)
  }

  /** Start address of the live allocation containing `address`, or undefined. Not metered (inspection). */
  allocationContaining(address: number): number | undefined {
    const start = this.#containing(address)
    return start < 0 ? undefined : start
  }

  /** Reads any bytes (zeros where nothing is stored) without allocation checks or gas: for inspection. */
  readRaw(address: number, length: number): Uint8Array {
    this.#checkAddress(address, 'address')
    checkLength(length, MAX_RANGE_LENGTH)
    if (address + length > REGION_COUNT_MAX * REGION_SIZE_BYTES) {
      throw new StrataError(MemoryErrorCode.ADDRESS_OUT_OF_RANGE,
        `${length} bytes at ${address} run past the end of the address space (2^40)`, { address, length })
    }
    const out = new Uint8Array(length)
    this.#readInto(address, out)
    return out
  }

  // ---- compaction ------------------------------------------------------------------------------------------

  /** Previews compaction of one heap region (or all): moves, planes freed, fragmentation, gas. No change. */
  analyzeCompaction(region?: number): CompactionReport {
    const plans = this.#compactionTargets(region).map((r) => this.#plan(r))
    const bytesMoved = plans.reduce((sum, plan) => sum + plan.bytesMoved, 0)
    const planesFreed = plans.reduce((sum, plan) => sum + plan.planesFreed, 0)
    return {
      regions: plans,
      gasCost: gasCost(this.#schedule, 'compact', bytesMoved),
      gasRefund: planesFreed * this.#schedule.compactPlaneRefund.base,
    }
  }

  /**
   * Moves the live allocations of one heap region (or of every heap region) into the fewest low planes,
   * drops emptied planes, refunds gas per freed plane, and returns the relocation map. Addresses held by
   * the caller must be translated through `relocations`.
   */
  compact(region?: number): CompactionResult {
    const report = this.analyzeCompaction(region)
    this.#charge('compact', report.gasCost, 0)
    const relocations = new Map<number, number>()
    let bytesMoved = 0
    for (const plan of report.regions) {
      const state = this.#regions[plan.region]!
      for (const move of plan.moves) {
        const data = new Uint8Array(move.size)
        this.#readInto(move.from, data)
        // Cover the destination first so planes shared by source and destination are never dropped between.
        this.#addAllocation(state, move.to, move.size)
        this.#removeAllocation(state, move.from, move.size)
        this.#touchRange(move.from, move.size)
        this.#zeroRange(move.from, move.size)
        this.#touchRange(move.to, move.size)
        this.#writeFrom(move.to, data)
        relocations.set(move.from, move.to)
        bytesMoved += move.size
      }
      this.#rebuildFree(state, plan)
    }
    const gasRefunded = this.#gas.refund(report.gasRefund)
    this.#gasByClass.compact -= gasRefunded
    return {
      relocations, planesFreed: report.regions.reduce((sum, plan) => sum + plan.planesFreed, 0), bytesMoved,
      gasCharged: report.gasCost, gasRefunded,
    }
  }

  // ---- transactions ----------------------------------------------------------------------------------------

  /** Opens a per-message transaction; page fees restart (first read/write per message). */
  begin(): void {
    if (this.#txn) throw txnError('begin() called while a transaction is open')
    this.#txn = true
    this.#dirtyAllocsMark = this.#dirtyAllocs.length
    clearIfUsed(this.#accessed)
    clearIfUsed(this.#written)
  }

  /** Keeps the message's changes; resets the stack. */
  commit(): void {
    if (!this.#txn) throw txnError('commit() called without begin()')
    this.#endTransaction()
  }

  /** Restores bytes and allocator state exactly as before `begin()`; resets the stack. */
  rollback(): void {
    if (!this.#txn) throw txnError('rollback() called without begin()')
    this.#replayUndo()
    this.#dirtyAllocs.length = this.#dirtyAllocsMark
    for (let i = this.#undoBytes.length - 1; i >= 0; i -= 1) {
      const undo = this.#undoBytes[i]!
      const key = undo.key
      if (undo.offset >= 0) {
        this.#resident.get(key)!.set((undo as { bytes: Uint8Array }).bytes, undo.offset)
        continue
      }
      const snapshot = (undo as { snapshot: PlaneSnapshot }).snapshot
      if (snapshot === null) {
        this.#resident.delete(key)
        this.#materialized.delete(key)
      } else if (snapshot === 'source') {
        this.#resident.delete(key)
        this.#materialized.add(key)
      } else {
        this.#resident.set(key, snapshot)
        if (!this.#isStackPlane(key)) this.#materialized.add(key)
      }
    }
    this.#endTransaction()
  }

  #endTransaction(): void {
    this.#txn = false
    this.#undo.length = 0
    this.#undoBytes.length = 0
    clearIfUsed(this.#wholePlaneSaved)
    clearIfUsed(this.#rangeUndoBytes)
    clearIfUsed(this.#accessed)
    clearIfUsed(this.#written)
    this.#resetStack()
  }

  /** Planes accessed (read or written) for the first time in the current message, ascending. */
  planesAccessed(): PlaneKey[] {
    return sortedKeys(this.#accessed)
  }

  /** Planes written in the current message, ascending. */
  planesWritten(): PlaneKey[] {
    return sortedKeys(this.#written)
  }

  // ---- MemoryView ------------------------------------------------------------------------------------------

  planeBytes(key: PlaneKey): Uint8Array | undefined {
    return this.#readablePlane(key)
  }

  planeKeys(): PlaneKey[] {
    return sortedKeys(this.#materialized)
  }

  allocationAt(address: number): number | undefined {
    const size = this.#sizeAt(address)
    if (size < 0) return undefined
    return this.#regions[regionIndexOf(address)]!.type === RegionType.STACK ? undefined : size
  }

  allocations(): AllocationRecord[] {
    const out: AllocationRecord[] = []
    for (const region of this.#regions) {
      if (region === undefined || region.type === RegionType.STACK) continue
      out.push(...this.#regionAllocations(region))
    }
    return out
  }

  takeDirty(): DirtySet {
    if (this.#txn) throw txnError('takeDirty() called inside a transaction')
    const allocations = [...new Set(this.#dirtyAllocs)].sort((a, b) => a - b)
    const planes = sortedKeys(this.#dirtyPlanes)
    const chunkMasks = new Map<PlaneKey, number>()
    for (const key of planes) {
      if (this.#materialized.has(key)) chunkMasks.set(key, this.#dirtyChunks.get(key) ?? 0)
    }
    const freshPlanes = planes.filter((key) => this.#freshPlanes.has(key) && this.#materialized.has(key))
    this.#dirtyPlanes.clear()
    this.#dirtyChunks.clear()
    this.#freshPlanes.clear()
    this.#dirtyAllocs = []
    return { planes, allocations, chunkMasks, freshPlanes }
  }

  /** Region index -> type, for regions that exist (persistent state only when no transaction is open). */
  regions(): { readonly index: number; readonly type: RegionType; readonly top: number; readonly peak: number }[] {
    return this.#regions.filter((r): r is RegionState => r !== undefined)
      .map((r) => ({ index: r.index, type: r.type, top: r.top, peak: r.peak }))
  }

  stats(): MemoryStats {
    const regions: RegionStats[] = []
    let allocations = 0
    let liveBytes = 0
    for (const region of this.#regions) {
      if (region === undefined) continue
      const list = this.#regionAllocations(region)
      const plan = planRegionCompaction(region.index, regionBase(region.index), list)
      regions.push({
        region: region.index, type: region.type, allocations: region.allocCount, liveBytes: region.liveBytes,
        planesInUse: plan.planesBefore, spanBytes: region.top - regionBase(region.index),
        fragmentation: region.type === RegionType.HEAP ? plan.fragmentation : 0,
      })
      allocations += region.allocCount
      liveBytes += region.liveBytes
    }
    return {
      allocations, liveBytes, planesMaterialized: this.#materialized.size, planesInUse: this.#refs.size,
      planesMax: this.#planesMax, regions, gasByClass: { ...this.#gasByClass },
    }
  }

  // ---- restore (used by metadata.ts) -----------------------------------------------------------------------

  /** @internal Rebuilds one region from validated metadata; only on a fresh memory, outside transactions. */
  restoreRegion(
    index: number, type: RegionType, top: number, peak: number, allocations: readonly AllocationRecord[],
  ): void {
    assert(!this.#txn && this.#regions[index] === undefined, 'restoreRegion on a fresh memory')
    const region = this.#createRegion(index, type)
    let cursor = regionBase(index)
    for (const { address, size } of allocations) {
      if (type === RegionType.HEAP && address > cursor) this.#insertFree(region, cursor, address - cursor)
      this.#addAllocation(region, address, size)
      cursor = address + footprintOf(size)
    }
    if (type === RegionType.HEAP && top > cursor) this.#insertFree(region, cursor, top - cursor)
    region.top = top
    region.peak = peak
  }

  /** @internal Marks planes as holding committed data (restored from metadata), then clears dirty state. */
  restoreMaterialized(keys: readonly number[]): void {
    for (const key of keys) this.#materialized.add(key)
    this.#dirtyAllocs = []
    this.#dirtyPlanes.clear()
    this.#dirtyChunks.clear()
    this.#freshPlanes.clear()
  }

  /** @internal Whether any live allocation covers plane `key`. */
  isPlaneInUse(key: number): boolean {
    return this.#refs.has(key)
  }

  /** @internal Live allocations of one region, ascending. */
  regionAllocations(index: number): AllocationRecord[] {
    const region = this.#regions[index]
    return region === undefined ? [] : this.#regionAllocations(region)
  }

  // ---- internals: validation -------------------------------------------------------------------------------

  #checkAddress(address: unknown, name: string): asserts address is number {
    if (typeof address !== 'number' || !Number.isInteger(address) || address < 0
      || address >= REGION_COUNT_MAX * REGION_SIZE_BYTES) {
      throw new StrataError(MemoryErrorCode.ADDRESS_OUT_OF_RANGE,
        `${name} must be an Address3D (integer in 0..2^40-1), got ${describeValue(address)}`, { [name]: address })
    }
  }

  /** Throws unless [address, address+length) lies inside one live allocation. */
  #checkRange(address: number, length: number, name = 'address'): void {
    this.#checkAddress(address, name)
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      throw new StrataError(MemoryErrorCode.INVALID_ARGUMENT,
        `length must be a non-negative integer, got ${describeValue(length)}`, { length })
    }
    const start = this.#containing(address)
    if (start < 0) throw this.#accessMiss(address, name)
    const size = this.#sizeAt(start)
    if (address + length > start + size) {
      throw new StrataError(MemoryErrorCode.OUT_OF_BOUNDS,
        `${name} range ${formatAddress(address)} + ${length} bytes ends past the allocation at ` +
        `${formatAddress(start)} of ${size} bytes`, { [name]: address, length, allocation: start, size })
    }
  }

  #accessMiss(address: number, name: string): StrataError {
    const region = this.#regions[regionIndexOf(address)]
    if (region !== undefined && address < region.peak) {
      return new StrataError(MemoryErrorCode.USE_AFTER_FREE,
        `${name} ${formatAddress(address)} is in released memory (freed, moved by compaction, or padding ` +
        `below the region's high-water mark)`, { [name]: address })
    }
    return new StrataError(MemoryErrorCode.OUT_OF_BOUNDS,
      `${name} ${formatAddress(address)} is not inside any allocation`, { [name]: address })
  }

  #freeMiss(address: number): StrataError {
    if (this.#containing(address) >= 0) {
      return new StrataError(MemoryErrorCode.FREE_NOT_START,
        `free(${formatAddress(address)}): the address is inside an allocation but is not its start`, { address })
    }
    const region = this.#regions[regionIndexOf(address)]
    if (region !== undefined && address < region.peak) {
      return new StrataError(MemoryErrorCode.DOUBLE_FREE,
        `free(${formatAddress(address)}): the memory there is already free`, { address })
    }
    return new StrataError(MemoryErrorCode.OUT_OF_BOUNDS,
      `free(${formatAddress(address)}): nothing was ever allocated there`, { address })
  }

  /** Start of the live allocation containing `address`, or -1. */
  #containing(address: number): number {
    const plane = Math.floor(address / PLANE_SIZE_BYTES)
    const entry = this.#planeAllocs.get(plane)
    if (entry !== undefined) {
      const i = lowerBound(entry.starts, address + 1) - 1
      if (i >= 0 && address < entry.starts[i]! + entry.sizes[i]!) return entry.starts[i]!
    }
    const span = this.#spans.get(plane)
    if (span !== undefined && address < span + this.#sizeAt(span)) return span
    return -1
  }

  /** Size of the live allocation starting exactly at `start`, or -1. */
  #sizeAt(start: number): number {
    const entry = this.#planeAllocs.get(Math.floor(start / PLANE_SIZE_BYTES))
    if (entry === undefined) return -1
    const i = lowerBound(entry.starts, start)
    return entry.starts[i] === start ? entry.sizes[i]! : -1
  }

  // ---- internals: gas --------------------------------------------------------------------------------------

  /** Charges `opGas + pageGas` or throws OUT_OF_GAS having changed nothing. */
  #charge(gasClass: GasClass, opGas: number, pageGas: number): void {
    if (!this.#gas.charge(opGas + pageGas)) {
      throw new StrataError(MemoryErrorCode.OUT_OF_GAS,
        `${gasClass} needs ${opGas + pageGas} gas, ${this.#gas.left} left`,
        { needed: opGas + pageGas, left: this.#gas.left })
    }
    this.#gasByClass[gasClass] += opGas
    this.#gasByClass.page += pageGas
  }

  /** Page fee for touching plane `key` now: first access pays pageRead (+ pageLoad if it holds data), first write pageWrite. */
  #pageFee(key: number, write: boolean): number {
    let fee = 0
    if (!this.#accessed.has(key)) {
      fee += this.#schedule.pageRead.base
      if (this.#materialized.has(key)) fee += this.#schedule.pageLoad.base
    }
    if (write && !this.#written.has(key)) fee += this.#schedule.pageWrite.base
    return fee
  }

  // ---- internals: planes -----------------------------------------------------------------------------------

  #isStackPlane(key: number): boolean {
    return this.#regions[Math.floor(key / PLANES_PER_REGION_MAX)]?.type === RegionType.STACK
  }

  /** Planes whose bytes are held in memory (loaded or written); the rest of the materialized ones are in the store. */
  get residentPlaneCount(): number {
    return this.#resident.size
  }

  #hasData(key: number): boolean {
    return this.#resident.has(key) || this.#materialized.has(key)
  }

  /** The plane's bytes for reading, loading a committed plane from the source if needed; undefined = zeros. */
  #readablePlane(key: number): Uint8Array | undefined {
    const bytes = this.#resident.get(key)
    if (bytes !== undefined || !this.#materialized.has(key)) return bytes
    assert(this.#planeSource !== undefined, `plane ${key} is materialized but not resident and has no source`)
    const loaded = this.#planeSource(key as PlaneKey)
    assert(loaded.length === PLANE_SIZE_BYTES, `plane source returned ${loaded.length} bytes for plane ${key}`)
    this.#resident.set(key, loaded)
    return loaded
  }

  /** Records a charged access: page fees are paid once per plane per message. */
  #markAccess(key: number, write: boolean): void {
    this.#accessed.add(key)
    if (write) this.#written.add(key)
  }

  /** Records a range as accessed and written, without fees (compaction is priced by its own row). */
  #touchRange(address: number, length: number): void {
    const [first, end] = planeSpan(address, length)
    for (let p = first; p < end; p += 1) {
      this.#accessed.add(p)
      this.#written.add(p)
    }
  }

  /** Records a plane's whole previous state once per transaction (it is being created or dropped). */
  #saveWholePlane(key: number): void {
    if (!this.#txn || this.#wholePlaneSaved.has(key)) return
    this.#wholePlaneSaved.add(key)
    const bytes = this.#resident.get(key)
    // A plane being dropped leaves #resident, so its array itself is the snapshot: nothing writes it again.
    this.#undoBytes.push({ key, offset: -1, snapshot: bytes ?? (this.#materialized.has(key) ? 'source' : null) })
  }

  /**
   * The plane's bytes, about to be written at [offset, offset + length): records what the transaction needs to
   * undo that write, materializes an absent plane, and marks the plane dirty.
   */
  #writablePlane(key: number, offset: number, length: number): Uint8Array {
    let bytes = this.#readablePlane(key)
    const stack = this.#isStackPlane(key)
    if (bytes === undefined) {
      this.#saveWholePlane(key)
      bytes = new Uint8Array(PLANE_SIZE_BYTES)
      this.#resident.set(key, bytes)
      if (!stack) {
        this.#materialized.add(key)
        if (!this.#freshPlanes.has(key)) {
          this.#freshPlanes.add(key)
          if (this.#txn) this.#undo.push(key, UNDO_FRESH_PLANE)
        }
      }
    } else if (this.#txn && !this.#wholePlaneSaved.has(key)) {
      const saved = (this.#rangeUndoBytes.get(key) ?? 0) + length
      if (saved > RANGE_UNDO_BYTES_MAX_PER_PLANE) {
        this.#wholePlaneSaved.add(key)
        this.#undoBytes.push({ key, offset: -1, snapshot: bytes.slice() })
      } else {
        this.#rangeUndoBytes.set(key, saved)
        this.#undoBytes.push({ key, offset, bytes: bytes.slice(offset, offset + length) })
      }
    }
    if (!stack) {
      this.#markDirtyPlane(key)
      if (length > 0) {
        const first = Math.floor(offset / DIRTY_CHUNK_SIZE_BYTES)
        const last = Math.floor((offset + length - 1) / DIRTY_CHUNK_SIZE_BYTES)
        const bits = ((1 << (last + 1)) - 1) & ~((1 << first) - 1)
        this.#dirtyChunks.set(key, (this.#dirtyChunks.get(key) ?? 0) | bits)
      }
    }
    return bytes
  }

  #dropPlane(key: number): void {
    if (!this.#hasData(key)) return
    this.#saveWholePlane(key)
    this.#resident.delete(key)
    if (this.#materialized.delete(key)) this.#markDirtyPlane(key)
  }

  #markDirtyPlane(key: number): void {
    if (this.#dirtyPlanes.has(key)) return
    this.#dirtyPlanes.add(key)
    if (this.#txn) this.#undo.push(key, UNDO_DIRTY_PLANE)
  }

  /** Walks [address, address + length) plane by plane: visit(plane key, offset in plane, bytes there, bytes before). */
  #walk(address: number, length: number, visit: (key: number, offset: number, n: number, done: number) => void): void {
    let done = 0
    while (done < length) {
      const at = address + done
      const key = Math.floor(at / PLANE_SIZE_BYTES)
      const offset = at - key * PLANE_SIZE_BYTES
      const n = Math.min(PLANE_SIZE_BYTES - offset, length - done)
      visit(key, offset, n, done)
      done += n
    }
  }

  #readInto(address: number, out: Uint8Array): void {
    this.#walk(address, out.length, (key, offset, n, done) => {
      const bytes = this.#readablePlane(key)
      if (bytes !== undefined) out.set(bytes.subarray(offset, offset + n), done)
    })
  }

  /** Writes into planes already charged as written. */
  #writeFrom(address: number, data: Uint8Array): void {
    this.#walk(address, data.length, (key, offset, n, done) => {
      this.#writablePlane(key, offset, n).set(data.subarray(done, done + n), offset)
    })
  }

  /** Zeroes a range in the planes that still hold data and are still in use (others were dropped). */
  #zeroRange(address: number, length: number): void {
    this.#walk(address, length, (key, offset, n) => {
      if (this.#refs.has(key) && this.#hasData(key)) this.#writablePlane(key, offset, n).fill(0, offset, offset + n)
    })
  }

  // ---- internals: allocator bookkeeping (every mutation logs its inverse inside a transaction) ------------

  #findPlacement(size: number, footprint: number, type: RegionType):
    { region: RegionState | undefined; regionIndex: number; start: number; blockStart: number } {
    for (const index of this.#live) {
      const region = this.#regions[index]!
      if (region.type !== type) continue
      if (region.freeCount > 0) {
        const found = this.#findFreeBlock(region, size, footprint)
        if (found !== undefined) return { region, regionIndex: index, start: found[1], blockStart: found[0] }
      }
      const start = placeAt(region.top, size)
      if (start + footprint <= regionBase(index) + REGION_SIZE_BYTES) {
        return { region, regionIndex: index, start, blockStart: -1 }
      }
    }
    const freeIndex = this.#regions.indexOf(undefined)
    if (freeIndex < 0) {
      throw new StrataError(MemoryErrorCode.REGION_LIMIT,
        `no ${type} region has room for ${size} bytes and all ${REGION_COUNT_MAX} regions are in use`,
        { size, regionType: type })
    }
    return { region: undefined, regionIndex: freeIndex, start: regionBase(freeIndex), blockStart: -1 }
  }

  /** [block start, placement] of the first fitting free block, smallest size class first, ascending address. */
  #findFreeBlock(region: RegionState, size: number, footprint: number): [number, number] | undefined {
    const bins = region.bins!
    const fits = (blockStart: number): boolean =>
      placeAt(blockStart, size) + footprint <= blockStart + this.#freeSize.get(blockStart)!
    for (let c = sizeClassOf(footprint); c < SIZE_CLASS_COUNT; c += 1) {
      const bin = bins[c]!
      if (bin.length === 0) continue
      const blockStart = bin.find(FREE_SCAN_MAX, fits)
      if (blockStart >= 0) return [blockStart, placeAt(blockStart, size)]
    }
    return undefined
  }

  #createRegion(index: number, type: RegionType): RegionState {
    const region: RegionState = {
      index, type, top: regionBase(index), peak: regionBase(index), allocCount: 0, liveBytes: 0, freeCount: 0,
      bins: type === RegionType.HEAP ? Array.from({ length: SIZE_CLASS_COUNT }, () => new SortedBin()) : undefined,
      stack: type === RegionType.STACK ? [] : undefined,
    }
    this.#regions[index] = region
    insertSorted(this.#live, index)
    if (type === RegionType.STACK) this.#stackRegions += 1
    if (this.#txn) this.#undo.push(index, UNDO_REGION_CREATED)
    return region
  }

  #deleteRegion(index: number): void {
    if (this.#regions[index]?.type === RegionType.STACK) this.#stackRegions -= 1
    this.#regions[index] = undefined
    removeSorted(this.#live, index)
  }

  #setTop(region: RegionState, top: number): void {
    if (this.#txn) this.#undo.push(region.index, region.top, region.peak, UNDO_TOP)
    region.top = top
    if (top > region.peak) region.peak = top
  }

  #insertFree(region: RegionState, start: number, size: number): void {
    this.#linkFree(region, start, size)
    if (this.#txn) this.#undo.push(region.index, start, size, UNDO_FREE_INSERTED)
  }

  #removeFree(region: RegionState, start: number): number {
    const size = this.#freeSize.get(start)!
    this.#unlinkFree(region, start, size)
    if (this.#txn) this.#undo.push(region.index, start, size, UNDO_FREE_REMOVED)
    return size
  }

  #linkFree(region: RegionState, start: number, size: number): void {
    this.#freeSize.set(start, size)
    this.#freeEnd.set(start + size, start)
    region.bins![sizeClassOf(size)]!.insert(start)
    region.freeCount += 1
  }

  #unlinkFree(region: RegionState, start: number, size: number): void {
    this.#freeSize.delete(start)
    this.#freeEnd.delete(start + size)
    region.bins![sizeClassOf(size)]!.remove(start)
    region.freeCount -= 1
  }

  #carveFree(region: RegionState, blockStart: number, start: number, footprint: number): void {
    const blockSize = this.#removeFree(region, blockStart)
    if (start > blockStart) this.#insertFree(region, blockStart, start - blockStart)
    const tail = blockStart + blockSize - (start + footprint)
    if (tail > 0) this.#insertFree(region, start + footprint, tail)
  }

  /** Returns freed heap space: coalesce with neighbours, or lower the top when it reaches it. */
  #releaseHeapSpace(region: RegionState, start: number, size: number): void {
    const base = regionBase(region.index)
    if (start > base) {
      const previous = this.#freeEnd.get(start)
      if (previous !== undefined) {
        size += start - previous
        start = previous
        this.#removeFree(region, previous)
      }
    }
    const end = start + size
    if (end < region.top) {
      const next = this.#freeSize.get(end)
      if (next !== undefined) {
        this.#removeFree(region, end)
        size += next
      }
    }
    if (start + size === region.top) this.#setTop(region, start)
    else this.#insertFree(region, start, size)
  }

  #rebuildFree(region: RegionState, plan: RegionCompactionPlan): void {
    for (const bin of region.bins!) {
      for (const start of bin.toArray()) this.#removeFree(region, start)
    }
    let cursor = regionBase(region.index)
    for (const { address, size } of plan.layout) {
      if (address > cursor) this.#insertFree(region, cursor, address - cursor)
      cursor = address + footprintOf(size)
    }
    this.#setTop(region, plan.top)
  }

  #addAllocation(region: RegionState, start: number, size: number): void {
    this.#indexAllocation(region, start, size)
    if (region.type !== RegionType.STACK) this.#dirtyAllocs.push(start)
    if (this.#txn) this.#undo.push(region.index, start, size, UNDO_ALLOC_ADDED)
  }

  #removeAllocation(region: RegionState, start: number, size: number): void {
    this.#unindexAllocation(region, start, size)
    if (this.#txn) this.#undo.push(region.index, start, size, UNDO_ALLOC_REMOVED)
    if (region.type !== RegionType.STACK) this.#dirtyAllocs.push(start)
    const [first, end] = planeSpan(start, size)
    for (let p = first; p < end; p += 1) if (!this.#refs.has(p)) this.#dropPlane(p)
  }

  /** Adds an allocation to every index (no logging, no dirty marks). */
  #indexAllocation(region: RegionState, start: number, size: number): void {
    const plane = Math.floor(start / PLANE_SIZE_BYTES)
    let entry = this.#planeAllocs.get(plane)
    if (entry === undefined) {
      entry = { starts: [], sizes: [] }
      this.#planeAllocs.set(plane, entry)
    }
    const i = lowerBound(entry.starts, start)
    if (i === entry.starts.length) {
      entry.starts.push(start)
      entry.sizes.push(size)
    } else {
      entry.starts.splice(i, 0, start)
      entry.sizes.splice(i, 0, size)
    }
    const [first, end] = planeSpan(start, size)
    for (let p = first + 1; p < end; p += 1) this.#spans.set(p, start)
    for (let p = first; p < end; p += 1) this.#refs.set(p, (this.#refs.get(p) ?? 0) + 1)
    region.allocCount += 1
    region.liveBytes += size
    if (region.stack !== undefined) insertSorted(region.stack, start)
  }

  /** Removes an allocation from every index (no logging, no plane drops). */
  #unindexAllocation(region: RegionState, start: number, size: number): void {
    const plane = Math.floor(start / PLANE_SIZE_BYTES)
    const entry = this.#planeAllocs.get(plane)!
    const i = lowerBound(entry.starts, start)
    // The message is built only on failure: this runs on every free and every undone allocation.
    if (entry.starts[i] !== start) assert(false, `allocation ${start} is indexed`)
    if (entry.starts.length === 1) {
      this.#planeAllocs.delete(plane)
    } else {
      entry.starts.splice(i, 1)
      entry.sizes.splice(i, 1)
    }
    const [first, end] = planeSpan(start, size)
    for (let p = first + 1; p < end; p += 1) this.#spans.delete(p)
    for (let p = first; p < end; p += 1) {
      const count = this.#refs.get(p)! - 1
      if (count === 0) this.#refs.delete(p)
      else this.#refs.set(p, count)
    }
    region.allocCount -= 1
    region.liveBytes -= size
    if (region.stack !== undefined) removeSorted(region.stack, start)
  }

  /** Pops the undo log back to empty, newest first. */
  #replayUndo(): void {
    const log = this.#undo
    while (log.length > 0) {
      const op = log.pop()!
      if (op === UNDO_DIRTY_PLANE) {
        this.#dirtyPlanes.delete(log.pop()!)
        continue
      }
      if (op === UNDO_FRESH_PLANE) {
        this.#freshPlanes.delete(log.pop()!)
        continue
      }
      if (op === UNDO_REGION_CREATED) {
        this.#deleteRegion(log.pop()!)
        continue
      }
      const c = log.pop()!
      const b = log.pop()!
      const region = this.#regions[log.pop()!]!
      switch (op) {
        case UNDO_TOP:
          region.top = b
          region.peak = c
          break
        case UNDO_FREE_INSERTED: this.#unlinkFree(region, b, c); break
        case UNDO_FREE_REMOVED: this.#linkFree(region, b, c); break
        case UNDO_ALLOC_ADDED: this.#unindexAllocation(region, b, c); break
        case UNDO_ALLOC_REMOVED: this.#indexAllocation(region, b, c); break
        default: assert(false, `unknown undo opcode ${op}`)
      }
    }
  }

  #regionAllocations(region: RegionState): AllocationRecord[] {
    const out: AllocationRecord[] = []
    const firstPlane = regionBase(region.index) / PLANE_SIZE_BYTES
    const endPlane = Math.ceil(region.top / PLANE_SIZE_BYTES)
    const collect = (entry: PlaneAllocs): void => {
      for (let i = 0; i < entry.starts.length; i += 1) out.push({ address: entry.starts[i]!, size: entry.sizes[i]! })
    }
    if (this.#planeAllocs.size < endPlane - firstPlane) {
      const planes = [...this.#planeAllocs.keys()].filter((p) => p >= firstPlane && p < endPlane).sort((a, b) => a - b)
      for (const plane of planes) collect(this.#planeAllocs.get(plane)!)
      return out
    }
    for (let p = firstPlane; p < endPlane; p += 1) {
      const entry = this.#planeAllocs.get(p)
      if (entry !== undefined) collect(entry)
    }
    return out
  }

  #compactionTargets(region: number | undefined): RegionState[] {
    if (region === undefined) {
      return this.#regions.filter((r): r is RegionState => r !== undefined && r.type === RegionType.HEAP)
    }
    if (typeof region !== 'number' || !Number.isInteger(region) || region < 0 || region >= REGION_COUNT_MAX) {
      throw new StrataError(MemoryErrorCode.ADDRESS_OUT_OF_RANGE,
        `region must be an integer in 0..${REGION_COUNT_MAX - 1}, got ${describeValue(region)}`, { region })
    }
    const state = this.#regions[region]
    if (state === undefined || state.type !== RegionType.HEAP) {
      throw new StrataError(MemoryErrorCode.WRONG_REGION_TYPE,
        `only heap regions are compacted; region ${region} is ${state === undefined ? 'not in use' : state.type}`,
        { region })
    }
    return [state]
  }

  #plan(region: RegionState): RegionCompactionPlan {
    return planRegionCompaction(region.index, regionBase(region.index), this.#regionAllocations(region))
  }

  /** Drops every stack region with its allocations and planes; runs outside transactions. */
  #resetStack(): void {
    // Most messages never touch the stack: skip the walk over regions then.
    if (this.#stackRegions === 0) return
    for (const index of [...this.#live]) {
      const region = this.#regions[index]!
      if (region.type !== RegionType.STACK) continue
      for (const start of [...region.stack!]) {
        const size = this.#sizeAt(start)
        this.#unindexAllocation(region, start, size)
        const [first, end] = planeSpan(start, size)
        for (let p = first; p < end; p += 1) if (!this.#refs.has(p)) this.#resident.delete(p)
      }
      this.#deleteRegion(index)
    }
  }
}

function regionBase(index: number): number {
  return index * REGION_SIZE_BYTES
}

/**
 * Clears a per-message set or map only when it holds something: V8 allocates a new backing table on every clear(),
 * even of an empty collection, and begin/commit run for every message.
 */
function clearIfUsed(collection: Set<number> | Map<number, number>): void {
  if (collection.size > 0) collection.clear()
}

function regionIndexOf(address: number): number {
  return Math.floor(address / REGION_SIZE_BYTES)
}

function sortedKeys(set: Set<number>): PlaneKey[] {
  return ([...set] as PlaneKey[]).sort((a, b) => a - b)
}

function checkCount(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new StrataError(MemoryErrorCode.INVALID_ARGUMENT,
      `${name} must be an integer in 1..${max}, got ${describeValue(value)}`, { [name]: value })
  }
  return value
}

function checkLength(length: unknown, max: number): void {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > max) {
    throw new StrataError(MemoryErrorCode.INVALID_ARGUMENT,
      `length must be an integer in 0..${max}, got ${describeValue(length)}`, { length })
  }
}

function txnError(message: string): StrataError {
  return new StrataError(MemoryErrorCode.TRANSACTION_STATE, message)
}

