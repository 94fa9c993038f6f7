// The commitment layer's facade: explicit named exports only. The standalone verifier is `./verify.js`,
// which imports nothing from Node; this facade also exports the native hasher and the prover.
export { MerkleErrorCode } from './errors.js'
export {
  ALLOCATION_KEY_BITS, ALLOCATION_PATH_MULTIPLIER, ALL_CHUNKS_MASK, CHUNKS_PER_PLANE, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH,
  EMPTY_HASH_HEX, EMPTY_STATE_ROOT_HEX, HASH_SIZE_BYTES, HashTag, PLANE_KEY_BITS, PLANE_PATH_MULTIPLIER, PROGRAM_KEY_BITS,
  PROOF_FORMAT, PROOF_JSON_MAX_CHARS, PROOF_PLANES_MAX, PROOF_RANGE_MAX_BYTES, ProgramStatusCode, ZERO_CHUNK_HASH_HEX,
  ZERO_PLANE_ROOT_HEX,
} from './format.js'
export { bytesEqual, hashNode, type Hasher } from './hasher.js'
export { nativeHasher, cryptoOnlyHasher, HASHTREE_AVAILABLE } from './native_hasher.js'
export { portableHasher } from './portable_hasher.js'
export { bytesToHex, hexToBytes } from './hex.js'
export {
  allocationLeafHash, chunkLeafInto, EMPTY_HASH, memoryRootHash, planeLeafHash, programLeafHash, ZERO_CHUNK_HASH,
  ZERO_PLANE_ROOT,
} from './leaf_hash.js'
export {
  ChunkTree, chunkCount, chunkMaskOf, hashPlane, planeRootWithChunkSize, type ChunkSelection,
} from './chunk_tree.js'
export {
  allocationPathKey, bytesKeyBit, bytesKeyPath, numericKeyPath, pathKeyBit, pathKeyOf, planePathKey, type KeyPath,
} from './key_path.js'
export {
  HASH_WORDS, MapNodeStore, NodeKind, NumericNodeTable, hashFromWords, wordsFromHash, type NodeStore,
} from './node_store.js'
export { SparseMerkleTree, type PathEnd, type PathWritten, type SparsePath } from './sparse_tree.js'
export { NumericPositionSet, type PositionSet } from './position_set.js'
export {
  ProgramCommitment, type CommitmentUpdateReport, type PlaneChange, type ProgramCommitmentOptions,
} from './program_commitment.js'
export {
  StateCommitment, parseId, type IdInput, type ProgramRecord, type ProgramRecordInput, type StateCommitmentOptions,
} from './state_commitment.js'
export { proveAbsence, proveRange, type AbsenceProofSource, type ProofSource } from './prove.js'
export { verifyProof, type VerifyOptions } from './verify.js'
export type {
  AbsenceProof, AbsenceVerified, AbsentPlaneProof, AllocationProof, ChunkProof, Hex, MerkleProof, PlaneProof,
  PresentPlaneProof, ProgramProof, RangeProof, RangeVerified, VerifiedProgram, VerifyFailure, VerifyResult,
} from './proof_types.js'
export { PersistentNodeStore } from './persistent_nodes.js'
