/**
 * The proof format (docs/merkle.md, "Proof JSON"): plain objects of lower-case hex strings and safe integers,
 * so a proof survives JSON.stringify / JSON.parse unchanged and any language can read it.
 *
 * Every list of siblings is ordered deepest first: the first entry is combined with the leaf (or empty
 * subtree) where the path ends, the last with the child of the root. Its length is the depth of that end.
 */

/** Bytes as lower-case hex without a prefix; a hash is 64 digits. */
export type Hex = string

/** A program's leaf fields and its path in the state tree. */
export interface ProgramProof {
  readonly programId: Hex
  readonly codeId: Hex
  /** 0 initializing, 1 active, 2 exited, 3 failed init. */
  readonly status: number
  /** The two roots whose hash is the program's memory root. */
  readonly planesRoot: Hex
  readonly allocationsRoot: Hex
  /** State-tree siblings, deepest first (at most 256). */
  readonly siblings: readonly Hex[]
}

/** A live allocation and its path in the allocations tree. */
export interface AllocationProof {
  /** Start address (packed Address3D). */
  readonly address: number
  readonly size: number
  /** Allocations-tree siblings, deepest first (at most 40). */
  readonly siblings: readonly Hex[]
}

/** One chunk of a plane and its path in the plane's chunk tree. */
export interface ChunkProof {
  /** Chunk index in the plane, 0..15 (chunk c holds plane offsets c * 4096 .. c * 4096 + 4095). */
  readonly index: number
  /** The chunk's 4,096 bytes. */
  readonly bytes: Hex
  /** Chunk-tree siblings, deepest first: exactly 4. */
  readonly siblings: readonly Hex[]
}

/** A committed plane: the chunks that cover the proven bytes in it, and its path in the planes tree. */
export interface PresentPlaneProof {
  /** Plane key: region * 65,536 + plane. */
  readonly key: number
  readonly present: true
  /** Planes-tree siblings, deepest first (at most 24). */
  readonly siblings: readonly Hex[]
  /** Chunks covering the proven bytes in this plane, ascending by index. */
  readonly chunks: readonly ChunkProof[]
}

/**
 * An absent plane (never written, or all zeros): where its key's path ends in the planes tree. That end is
 * either an empty subtree (`occupant: null`) or the leaf of another plane whose key shares every path bit
 * down to there; either way no leaf for `key` can exist.
 */
export interface AbsentPlaneProof {
  readonly key: number
  readonly present: false
  readonly siblings: readonly Hex[]
  readonly occupant: { readonly key: number; readonly planeRoot: Hex } | null
}

export type PlaneProof = PresentPlaneProof | AbsentPlaneProof

/** Proves `length` bytes of a program's memory at `address`, inside one live allocation. */
export interface RangeProof {
  readonly format: 'strata.merkle/1'
  readonly kind: 'range'
  readonly stateRoot: Hex
  readonly program: ProgramProof
  /** First byte (packed Address3D). */
  readonly address: number
  /** Bytes proven, 1 .. PROOF_RANGE_MAX_BYTES. */
  readonly length: number
  /** The proven bytes. */
  readonly data: Hex
  readonly allocation: AllocationProof
  /** One entry per plane the range touches, in address order. */
  readonly planes: readonly PlaneProof[]
}

/** Proves that a plane of a program is absent: every byte of it reads as zero. */
export interface AbsenceProof {
  readonly format: 'strata.merkle/1'
  readonly kind: 'absence'
  readonly stateRoot: Hex
  readonly program: ProgramProof
  readonly plane: AbsentPlaneProof
}

export type MerkleProof = RangeProof | AbsenceProof

/** The program a verified proof speaks about. */
export interface VerifiedProgram {
  readonly programId: Hex
  readonly codeId: Hex
  readonly status: number
  readonly memoryRoot: Hex
  readonly stateRoot: Hex
}

export interface RangeVerified extends VerifiedProgram {
  readonly ok: true
  readonly kind: 'range'
  readonly address: number
  readonly length: number
  /** The proven bytes. */
  readonly data: Uint8Array
  /** The live allocation that contains them. */
  readonly allocation: { readonly address: number; readonly size: number }
}

export interface AbsenceVerified extends VerifiedProgram {
  readonly ok: true
  readonly kind: 'absence'
  readonly planeKey: number
  readonly region: number
  readonly plane: number
}

export interface VerifyFailure {
  readonly ok: false
  /** Why the proof was rejected, for people (not a stable code). */
  readonly reason: string
}

export type VerifyResult = RangeVerified | AbsenceVerified | VerifyFailure
