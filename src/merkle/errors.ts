/**
 * Error codes raised by the commitment layer when it is misused (channel 2 of STYLE.md). Verification never
 * throws: a bad proof is an expected outcome and comes back as `{ ok: false, reason }`.
 */
export const MerkleErrorCode = {
  /** An argument of the wrong type or shape (an id that is not 32 bytes, a status outside 0..3, ...). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** An address or range that leaves the 40-bit address space. */
  ADDRESS_OUT_OF_RANGE: 'ADDRESS_OUT_OF_RANGE',
  /** A proof range of 0 bytes or longer than PROOF_RANGE_MAX_BYTES. */
  RANGE_TOO_LONG: 'RANGE_TOO_LONG',
  /** A proof range that does not lie entirely inside one live allocation. */
  NOT_IN_ALLOCATION: 'NOT_IN_ALLOCATION',
  /** A program id the state commitment does not hold. */
  UNKNOWN_PROGRAM: 'UNKNOWN_PROGRAM',
  /** `proveAbsence` of a plane that is committed with data. */
  PLANE_PRESENT: 'PLANE_PRESENT',
  /**
   * The inputs disagree with each other: the state holds another memory root for the program than the program
   * commitment has, or the memory view no longer has a plane the commitment holds. Call `update` first.
   */
  STALE_COMMITMENT: 'STALE_COMMITMENT',
} as const
export type MerkleErrorCode = (typeof MerkleErrorCode)[keyof typeof MerkleErrorCode]
