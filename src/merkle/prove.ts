/**
 * Builds proofs from up-to-date commitments. Preconditions the runtime meets at every cycle boundary: the
 * program commitment has consumed the view's dirty set (`update`), and the state holds the program's current
 * memory root. The second is checked (STALE_COMMITMENT); the first cannot be seen from here, and a proof built
 * from bytes written after the last `update` fails verification rather than proving something false.
 */
import { Buffer } from 'node:buffer'
import { ADDRESS_LIMIT, PLANES_PER_REGION_MAX, PLANE_SIZE_BYTES, REGION_COUNT_MAX } from '../constants.js'
import { StrataError, assert, describeValue } from '../errors.js'
import type { PlaneKey } from '../memory/index.js'
import type { MemoryView } from '../memory/index.js'
import { MerkleErrorCode } from './errors.js'
import {
  ALLOCATION_KEY_BITS, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH, HASH_SIZE_BYTES, PLANE_KEY_BITS, PROGRAM_KEY_BITS,
  PROOF_FORMAT, PROOF_RANGE_MAX_BYTES,
} from './format.js'
import { bytesEqual } from './hasher.js'
import { bytesToHex } from './hex.js'
import type { ProgramCommitment } from './program_commitment.js'
import type { AbsenceProof, AbsentPlaneProof, Hex, PlaneProof, ProgramProof, RangeProof } from './proof_types.js'
import type { PathEnd } from './sparse_tree.js'
import { parseId, type IdInput, type StateCommitment } from './state_commitment.js'

/** Everything a range proof is built from. */
export interface ProofSource {
  readonly state: StateCommitment
  readonly program: ProgramCommitment
  /** The program's memory, as committed by `program`: the proven bytes are read from it. */
  readonly view: MemoryView
  readonly programId: IdInput
}

/** An absence proof needs no bytes. */
export type AbsenceProofSource = Omit<ProofSource, 'view'>

/** Hex of part of a large array straight from its memory (plane bytes live off the JS heap already). */
function hexOf(bytes: Uint8Array, start: number, end: number): Hex {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('hex')
}

/**
 * Gathers the small byte strings of one proof (roots, ids, sibling lists, the data) in one buffer, written in
 * place by the trees, and hex-encodes them in one native call. A typed array or a hex call per hash measured
 * ~3x slower, and a proof holds 30-50 hashes. One per process: proving is synchronous, so proofs never
 * interleave, and `reset` starts each one.
 */
class ProofGather {
  #bytes = new Uint8Array(16 * 1024)
  #words = new Int32Array(this.#bytes.buffer)
  #size = 0
  readonly #starts: number[] = []
  readonly #lengths: number[] = []
  #text = ''

  reset(): void {
    this.#size = 0
    this.#starts.length = 0
    this.#lengths.length = 0
    this.#text = ''
  }

  /** Copies `bytes` in; returns a ticket for `hex`. */
  addBytes(bytes: Uint8Array): number {
    const start = this.#reserve(bytes.length)
    this.#bytes.set(bytes, start)
    return this.#claim(start, bytes.length)
  }

  /**
   * Lets `write` put up to `maxHashes` hashes (8 words each) at a word offset and return how many it wrote;
   * returns a ticket for `hashes`.
   */
  addHashes(maxHashes: number, write: (words: Int32Array, wordOffset: number) => number): number {
    const start = this.#reserve(maxHashes * HASH_SIZE_BYTES)
    const count = write(this.#words, start / 4)
    assert(count <= maxHashes, 'a writer stays within its reservation')
    return this.#claim(start, count * HASH_SIZE_BYTES)
  }

  encode(): void {
    this.#text = Buffer.from(this.#bytes.buffer, 0, this.#size).toString('hex')
  }

  hex(ticket: number): Hex {
    const start = this.#starts[ticket]! * 2
    return this.#text.slice(start, start + this.#lengths[ticket]! * 2)
  }

  hashes(ticket: number): Hex[] {
    const start = this.#starts[ticket]! * 2
    const count = this.#lengths[ticket]! / HASH_SIZE_BYTES
    const out = new Array<Hex>(count)
    for (let i = 0; i < count; i += 1) out[i] = this.#text.slice(start + i * 64, start + (i + 1) * 64)
    return out
  }

  /** A 4-byte aligned start (word writes need it) with room for `length` bytes. */
  #reserve(length: number): number {
    const start = (this.#size + 3) & ~3
    if (start + length > this.#bytes.length) {
      let capacity = this.#bytes.length * 2
      while (capacity < start + length) capacity *= 2
      const grown = new Uint8Array(capacity)
      grown.set(this.#bytes.subarray(0, this.#size))
      this.#bytes = grown
      this.#words = new Int32Array(grown.buffer)
    }
    return start
  }

  #claim(start: number, length: number): number {
    this.#starts.push(start)
    this.#lengths.push(length)
    this.#size = start + length
    return this.#starts.length - 1
  }
}

const gather = new ProofGather()

function checkInteger(name: string, value: unknown, min: number, max: number, code: MerkleErrorCode): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const message = `${name} must be an integer in ${min}..${max}, got ${describeValue(value)}`
    throw new StrataError(code, message, { [name]: value })
  }
  return value
}

/** The program part of a proof, gathered now; the returned function builds it after `gather.encode()`. */
function programPart(source: AbsenceProofSource): () => ProgramProof {
  const id = parseId(source.programId, 'programId')
  const record = source.state.program(id)
  if (record === undefined) {
    throw new StrataError(MerkleErrorCode.UNKNOWN_PROGRAM, `no program ${bytesToHex(id)} in the state commitment`)
  }
  const memoryRoot = source.program.memoryRoot()
  if (!bytesEqual(record.memoryRoot, memoryRoot)) {
    throw new StrataError(
      MerkleErrorCode.STALE_COMMITMENT,
      `the state holds memory root ${bytesToHex(record.memoryRoot)} for program ${bytesToHex(id)}, `
        + `its commitment has ${bytesToHex(memoryRoot)}`,
    )
  }
  const idTicket = gather.addBytes(id)
  const codeTicket = gather.addBytes(record.codeId)
  const planesTicket = gather.addBytes(source.program.planesRoot())
  const allocationsTicket = gather.addBytes(source.program.allocationsRoot())
  let end: PathEnd<Uint8Array> | undefined
  const siblingsTicket = gather.addHashes(PROGRAM_KEY_BITS, (words, offset) => {
    const path = source.state.programPathInto(id, words, offset)
    end = path.end
    return path.depth
  })
  assert(end?.kind === 'leaf' && bytesEqual(end.key, id), 'a committed program has a leaf')
  return () => ({
    programId: gather.hex(idTicket),
    codeId: gather.hex(codeTicket),
    status: record.status,
    planesRoot: gather.hex(planesTicket),
    allocationsRoot: gather.hex(allocationsTicket),
    siblings: gather.hashes(siblingsTicket),
  })
}

/** An absent plane's part of a proof, gathered now. */
function absentPlanePart(program: ProgramCommitment, key: number): () => AbsentPlaneProof {
  let end: PathEnd<number> | undefined
  const siblings = gather.addHashes(PLANE_KEY_BITS, (words, offset) => {
    const path = program.planePathInto(key, words, offset)
    end = path.end
    return path.depth
  })
  assert(end !== undefined, 'a path has an end')
  if (end.kind === 'empty') return () => ({ key, present: false, siblings: gather.hashes(siblings), occupant: null })
  const occupantKey = end.key
  assert(occupantKey !== key, 'an absent plane has no leaf')
  const planeRoot = program.planeRoot(occupantKey)
  assert(planeRoot !== undefined, 'a leaf in the planes tree is a committed plane')
  const root = gather.addBytes(planeRoot)
  return () => ({
    key, present: false, siblings: gather.hashes(siblings), occupant: { key: occupantKey, planeRoot: gather.hex(root) },
  })
}

/**
 * Proves `length` bytes at `address` of a program's memory against the state root. The range must lie inside
 * one live allocation and be at most PROOF_RANGE_MAX_BYTES long; it may cross chunks and planes.
 */
export function proveRange(source: ProofSource, address: number, length: number): RangeProof {
  checkInteger('address', address, 0, ADDRESS_LIMIT - 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE)
  checkInteger('length', length, 1, PROOF_RANGE_MAX_BYTES, MerkleErrorCode.RANGE_TOO_LONG)
  const end = address + length
  const { program, view } = source
  const allocation = program.allocationContaining(address)
  if (allocation === undefined || end > allocation.address + allocation.size) {
    throw new StrataError(
      MerkleErrorCode.NOT_IN_ALLOCATION,
      `bytes ${address}..${end - 1} do not lie inside one live allocation`
        + (allocation === undefined ? '' : ` (the allocation at ${allocation.address} has ${allocation.size} bytes)`),
      { address, length },
    )
  }

  gather.reset()
  const stateRoot = gather.addBytes(source.state.root())
  const programProof = programPart(source)
  let allocationEnd: PathEnd<number> | undefined
  const allocationSiblings = gather.addHashes(ALLOCATION_KEY_BITS, (words, offset) => {
    const path = program.allocationPathInto(allocation.address, words, offset)
    allocationEnd = path.end
    return path.depth
  })
  assert(allocationEnd?.kind === 'leaf' && allocationEnd.key === allocation.address, 'a live allocation has a leaf')

  const data = new Uint8Array(length)
  const planeParts: (() => PlaneProof)[] = []
  const firstKey = Math.floor(address / PLANE_SIZE_BYTES)
  const lastKey = Math.floor((end - 1) / PLANE_SIZE_BYTES)
  for (let key = firstKey; key <= lastKey; key += 1) {
    const planeStart = key * PLANE_SIZE_BYTES
    const from = Math.max(address, planeStart) - planeStart
    const to = Math.min(end, planeStart + PLANE_SIZE_BYTES) - planeStart
    const tree = program.chunkTree(key)
    if (tree === undefined) {
      // Absent: its bytes are zero, as `data` already is there.
      planeParts.push(absentPlanePart(program, key))
      continue
    }
    const bytes = view.planeBytes(key as PlaneKey)
    if (bytes === undefined) {
      throw new StrataError(
        MerkleErrorCode.STALE_COMMITMENT, `plane ${key} is committed but the memory view has no bytes for it`,
      )
    }
    data.set(bytes.subarray(from, to), planeStart + from - address)
    const chunks: { readonly index: number; readonly bytes: Hex; readonly siblings: number }[] = []
    for (let c = Math.floor(from / CHUNK_SIZE_BYTES); c <= Math.floor((to - 1) / CHUNK_SIZE_BYTES); c += 1) {
      const siblings = gather.addHashes(CHUNK_TREE_DEPTH, (words, offset) => {
        tree.siblingsInto(c, words, offset)
        return CHUNK_TREE_DEPTH
      })
      chunks.push({ index: c, bytes: hexOf(bytes, c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES), siblings })
    }
    let planeEnd: PathEnd<number> | undefined
    const siblings = gather.addHashes(PLANE_KEY_BITS, (words, offset) => {
      const path = program.planePathInto(key, words, offset)
      planeEnd = path.end
      return path.depth
    })
    assert(planeEnd?.kind === 'leaf' && planeEnd.key === key, 'a committed plane has a leaf')
    planeParts.push(() => ({
      key,
      present: true,
      siblings: gather.hashes(siblings),
      chunks: chunks.map((chunk) => ({ index: chunk.index, bytes: chunk.bytes, siblings: gather.hashes(chunk.siblings) })),
    }))
  }
  const dataTicket = gather.addBytes(data)
  gather.encode()
  return {
    format: PROOF_FORMAT,
    kind: 'range',
    stateRoot: gather.hex(stateRoot),
    program: programProof(),
    address,
    length,
    data: gather.hex(dataTicket),
    allocation: { address: allocation.address, size: allocation.size, siblings: gather.hashes(allocationSiblings) },
    planes: planeParts.map((part) => part()),
  }
}

/** Proves that plane (`region`, `plane`) of a program is absent, so all its bytes read as zero. */
export function proveAbsence(source: AbsenceProofSource, region: number, plane: number): AbsenceProof {
  checkInteger('region', region, 0, REGION_COUNT_MAX - 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE)
  checkInteger('plane', plane, 0, PLANES_PER_REGION_MAX - 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE)
  const key = region * PLANES_PER_REGION_MAX + plane
  if (source.program.chunkTree(key) !== undefined) {
    throw new StrataError(MerkleErrorCode.PLANE_PRESENT, `plane (${region}, ${plane}) holds data; prove a range instead`)
  }
  gather.reset()
  const stateRoot = gather.addBytes(source.state.root())
  const programProof = programPart(source)
  const planeProof = absentPlanePart(source.program, key)
  gather.encode()
  return {
    format: PROOF_FORMAT, kind: 'absence', stateRoot: gather.hex(stateRoot), program: programProof(), plane: planeProof(),
  }
}

