/**
 * The state root: a sparse tree over programs keyed by program id (256 bits, read MSB first), with the
 * single-leaf shortcut (sparse_tree.ts), so an update costs ~log2(programs) hashes instead of 256.
 *
 *   leaf = SHA-256(0x30 || program id (32) || code id (32) || status (1) || memory root (32))
 *
 * With no program the root is EMPTY_STATE_ROOT = SHA-256(0x00); with one, it is that program's leaf.
 */
import { StrataError, describeValue } from '../errors.js'
import { MerkleErrorCode } from './errors.js'
import {
  HASH_SIZE_BYTES, PROGRAM_ID_SIZE_BYTES, PROGRAM_STATUS_CODE_MAX, type ProgramStatusCode,
} from './format.js'
import type { Hasher } from './hasher.js'
import { bytesToHex, hexToBytes } from './hex.js'
import { bytesKeyPath } from './key_path.js'
import { programLeafHash } from './leaf_hash.js'
import { nativeHasher } from './native_hasher.js'
import { MapNodeStore, type NodeStore } from './node_store.js'
import { SparseMerkleTree, type PathWritten, type SparsePath } from './sparse_tree.js'

/** A 32-byte id as bytes or as 64 lower-case hex digits. */
export type IdInput = Uint8Array | string

/** What the state commits to for one program. */
export interface ProgramRecord {
  readonly codeId: Uint8Array
  readonly status: ProgramStatusCode
  readonly memoryRoot: Uint8Array
}

export interface ProgramRecordInput {
  readonly codeId: IdInput
  readonly status: number
  readonly memoryRoot: Uint8Array | string
}

export interface StateCommitmentOptions {
  /** Defaults to the native hasher. */
  readonly hasher?: Hasher
  /** Node storage of the state tree (default: in memory). Positions are strings of path bits. */
  readonly nodes?: NodeStore<string, Uint8Array>
  /**
   * Where records set before this object existed are found (a state tree reopened over persistent nodes):
   * consulted by `program` when a record is not held here. Given the id in hex.
   */
  readonly records?: (programIdHex: string) => ProgramRecord | undefined
}

/** Parses a 32-byte value given as bytes or hex; a new array either way. */
export function parseId(value: unknown, name: string): Uint8Array {
  if (value instanceof Uint8Array && value.length === HASH_SIZE_BYTES) return value.slice()
  const bytes = hexToBytes(value, HASH_SIZE_BYTES)
  if (bytes === undefined) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `${name} must be 32 bytes (a Uint8Array or 64 lower-case hex digits), got ${describeValue(value)}`,
    )
  }
  return bytes
}

function parseStatus(value: unknown): ProgramStatusCode {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > PROGRAM_STATUS_CODE_MAX) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `status must be an integer in 0..${PROGRAM_STATUS_CODE_MAX}, got ${describeValue(value)}`,
    )
  }
  return value as ProgramStatusCode
}

export class StateCommitment {
  readonly #hasher: Hasher
  readonly #tree: SparseMerkleTree<Uint8Array, string>
  /** Records by program id in hex. */
  readonly #programs = new Map<string, ProgramRecord>()
  readonly #records: ((programIdHex: string) => ProgramRecord | undefined) | undefined

  constructor(options: StateCommitmentOptions = {}) {
    this.#hasher = options.hasher ?? nativeHasher
    this.#records = options.records
    this.#tree = new SparseMerkleTree(
      bytesKeyPath(PROGRAM_ID_SIZE_BYTES), this.#hasher, options.nodes ?? new MapNodeStore<string, Uint8Array>(),
    )
  }

  /** Inserts or replaces a program's leaf. */
  setProgram(programId: IdInput, record: ProgramRecordInput): void {
    const id = parseId(programId, 'programId')
    const codeId = parseId(record.codeId, 'codeId')
    const status = parseStatus(record.status)
    const memoryRoot = parseId(record.memoryRoot, 'memoryRoot')
    this.#programs.set(bytesToHex(id), { codeId, status, memoryRoot })
    this.#tree.set(id, programLeafHash(this.#hasher, id, codeId, status, memoryRoot))
  }

  /** Removes a program's leaf; returns whether it was there. */
  removeProgram(programId: IdInput): boolean {
    const id = parseId(programId, 'programId')
    const known = this.#programs.delete(bytesToHex(id)) || this.#records?.(bytesToHex(id)) !== undefined
    if (!known) return false
    return this.#tree.delete(id)
  }

  /** The committed record of a program (copies), if present. */
  program(programId: IdInput): ProgramRecord | undefined {
    const hex = bytesToHex(parseId(programId, 'programId'))
    const record = this.#programs.get(hex) ?? this.#records?.(hex)
    if (record === undefined) return undefined
    return { codeId: record.codeId.slice(), status: record.status, memoryRoot: record.memoryRoot.slice() }
  }

  /** The state root (a new array); EMPTY_STATE_ROOT when no program exists. */
  root(): Uint8Array {
    return this.#tree.root().slice()
  }

  /** The path of a program's leaf (or of its absence) for a proof. */
  programPath(programId: IdInput): SparsePath<Uint8Array> {
    return this.#tree.path(parseId(programId, 'programId'))
  }

  /** `programPath` writing the siblings into `words` (see SparseMerkleTree.pathInto). */
  programPathInto(programId: IdInput, words: Int32Array, offset: number): PathWritten<Uint8Array> {
    return this.#tree.pathInto(parseId(programId, 'programId'), words, offset)
  }

  get size(): number {
    return this.#programs.size
  }
}
