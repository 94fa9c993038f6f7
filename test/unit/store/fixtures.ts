/**
 * Fixtures for the store tests: deterministic ids, planes, messages and records, a SHA-256 plane verifier (the
 * store takes any verify function; the runtime will pass the commitment layer's hashPlane), temp directories.
 * Shared with child.ts, which runs in child processes and worker threads.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { MessageId, ProgramId, UserId } from '../../../src/message/ids.js'
import { MessageKind, type Message } from '../../../src/message/types.js'
import type { ProgramRecord } from '../../../src/protocol/index.js'

export const PLANE_BYTES = 65_536

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** The verifier every test store is opened with. */
export const verify = sha256

export function hexId<T extends string>(label: string): T {
  return createHash('sha256').update(label).digest('hex') as T
}

export const programId = (n: number): ProgramId => hexId<ProgramId>(`program ${n}`)
export const userId = (n: number): UserId => hexId<UserId>(`user ${n}`)
export const messageId = (n: number): MessageId => hexId<MessageId>(`message ${n}`)

/** A plane whose bytes depend on `seed` (a fill plus a header naming the seed), cheap to build. */
export function planeBytes(seed: number, key = 0): Uint8Array {
  const bytes = new Uint8Array(PLANE_BYTES).fill((seed * 7 + key) & 0xff)
  const view = new DataView(bytes.buffer)
  view.setFloat64(0, seed)
  view.setUint32(8, key)
  return bytes
}

/**
 * Whether two byte arrays are equal, via Buffer.equals: vitest's toEqual walks a 64 KiB array element by element
 * (tens of ms per plane), so plane comparisons go through this.
 */
export function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  return actual !== undefined && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
    .equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))
}

export function planeSeed(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0)
}

export function planeChange(seed: number, key: number): { key: number; bytes: Uint8Array; root: Uint8Array } {
  const bytes = planeBytes(seed, key)
  return { key, bytes, root: sha256(bytes) }
}

export function message(n: number, overrides: Partial<Message> = {}): Message {
  return {
    id: messageId(n), kind: MessageKind.HANDLE, source: userId(n % 3), destination: programId(n % 5),
    payload: Uint8Array.from([n & 0xff, (n >> 8) & 0xff, 1, 2, 3]), gasLimit: 1_000_000 + n, origin: messageId(n),
    ...overrides,
  }
}

export function record(n: number, overrides: Partial<ProgramRecord> = {}): ProgramRecord {
  return {
    id: programId(n), codeId: hexId(`code ${n % 2}`), status: 'active', stateAddress: n % 2 === 0 ? null : 4096 * n,
    creator: userId(0), ...overrides,
  }
}

export function rootOf(label: string | number): Uint8Array {
  return sha256(new TextEncoder().encode(`root ${label}`))
}

/** The program whose planes child.ts's crash loop rewrites every cycle. */
export const CRASH_PROGRAM = programId(77)
/** Messages the crash loop appends per cycle. */
export const CRASH_MESSAGES_PER_CYCLE = 3
export const CRASH_MERKLE_KEY = Uint8Array.from([1, 2, 3])

export function tempDir(prefix = 'strata-store-'): { readonly dir: string; readonly remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Planes per transaction for the split-commit tests: small, so a batch of a dozen planes takes several parts. */
export const SPLIT_PLANES_PER_TRANSACTION = 4

/**
 * Small commits (one transaction each) before a split one: their blobs live under commit numbers 1..3, which is
 * where a split commit that staged under the previous commit's number would write.
 */
export function splitHistory() {
  return [1, 2, 3].map((cycle) => ({
    cycle, stateRoot: rootOf(cycle),
    memory: [{ programId: programId(100 + cycle), dropped: false, meta: Uint8Array.of(cycle), planes: [0, 1, 2].map((key) => planeChange(cycle, key)) }],
  }))
}

/** A split commit after splitHistory: 14 planes of new programs (three staging parts of 4, a final part of 2) and one rewrite. */
export function splitLarge() {
  return {
    cycle: 4, stateRoot: rootOf(4),
    memory: [
      { programId: programId(200), dropped: false, meta: Uint8Array.of(4), planes: Array.from({ length: 13 }, (_, key) => planeChange(4, key)) },
      { programId: programId(101), dropped: false, meta: Uint8Array.of(4), planes: [planeChange(4, 1)] },
    ],
  }
}

/** Planes the masked crash loop (child.ts mode `chunks`) rewrites every cycle, and its staging part. */
export const CHUNK_CRASH_PLANES = 300
export const CHUNK_CRASH_PLANES_PER_TRANSACTION = 4

/** The chunks cycle `cycle` of the masked crash loop writes (cycle 1: all of them). */
export function chunkCrashMask(cycle: number): number {
  return cycle === 1 ? 0xffff : (1 << (cycle % 16)) | (1 << ((cycle * 7 + 3) % 16))
}

/** The bytes the masked crash loop writes into chunk `chunk` of plane `key` at `cycle` (some are zeros). */
export function chunkCrashFill(cycle: number, key: number, chunk: number): number {
  return (cycle + chunk + key) % 5 === 0 ? 0 : ((cycle * 31 + chunk * 3 + key) & 0xff) || 1
}

/** Plane `key` of the masked crash loop after `cycle` cycles. */
export function chunkCrashPlane(cycle: number, key: number): Uint8Array {
  const bytes = new Uint8Array(PLANE_BYTES)
  for (let chunk = 0; chunk < 16; chunk += 1) {
    let last = cycle
    while (last >= 1 && (chunkCrashMask(last) & (1 << chunk)) === 0) last -= 1
    if (last >= 1) bytes.fill(chunkCrashFill(last, key, chunk), chunk * 4096, (chunk + 1) * 4096)
  }
  return bytes
}
