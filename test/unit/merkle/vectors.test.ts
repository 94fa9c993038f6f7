import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ALLOCATION_PATH_MULTIPLIER, CHUNK_SIZE_BYTES, EMPTY_HASH_HEX, EMPTY_STATE_ROOT_HEX, HashTag, PLANE_PATH_MULTIPLIER,
  ProgramCommitment, StateCommitment, ZERO_PLANE_ROOT_HEX, allocationLeafHash, allocationPathKey, bytesToHex, hashPlane,
  hexToBytes, memoryRootHash, nativeHasher, planeLeafHash, planePathKey, programLeafHash, proveAbsence, proveRange,
  verifyProof,
} from '../../../src/merkle/index.js'
import { FakeView } from './fake_view.js'
import * as ref from './reference.js'

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any
const vectors: Json = JSON.parse(readFileSync(new URL('../../fixtures/merkle-vectors.json', import.meta.url), 'utf8'))
const bytes = (hex: string): Uint8Array => hexToBytes(hex, hex.length / 2)!

function viewOf(memory: Json): FakeView {
  const view = new FakeView()
  for (const [address, size] of memory.allocations) view.allocate(address, size)
  for (const [address, hex] of memory.writes) view.write(address, bytes(hex))
  return view
}

function stateOf(description: Json): StateCommitment {
  const state = new StateCommitment()
  for (const p of description.programs) {
    state.setProgram(p.programId, { codeId: p.codeId, status: p.status, memoryRoot: vectors.memories[p.memory].memoryRoot })
  }
  return state
}

describe('test vectors (test/fixtures/merkle-vectors.json)', () => {
  it('constants', () => {
    const c = vectors.constants
    expect(c.emptyHash).toBe(EMPTY_HASH_HEX)
    expect(c.emptyStateRoot).toBe(EMPTY_STATE_ROOT_HEX)
    expect(c.zeroPlaneRoot).toBe(ZERO_PLANE_ROOT_HEX)
    expect(c.zeroPlaneRoot).toBe(bytesToHex(ref.planeRoot(new Uint8Array(65_536))))
    expect(c.chunkSizeBytes).toBe(CHUNK_SIZE_BYTES)
    expect([c.planePathMultiplier, c.allocationPathMultiplier]).toEqual([PLANE_PATH_MULTIPLIER, ALLOCATION_PATH_MULTIPLIER])
    expect(c.tags).toEqual(HashTag)
  })

  it('leaf hashes', () => {
    const l = vectors.leaves
    expect(bytesToHex(planeLeafHash(nativeHasher, l.planeLeaf.key, bytes(l.planeLeaf.planeRoot)))).toBe(l.planeLeaf.hash)
    expect(bytesToHex(ref.planeLeaf(l.planeLeaf.key, bytes(l.planeLeaf.planeRoot)))).toBe(l.planeLeaf.hash)
    expect(bytesToHex(allocationLeafHash(nativeHasher, l.allocationLeaf.address, l.allocationLeaf.size))).toBe(l.allocationLeaf.hash)
    expect(bytesToHex(ref.allocationLeaf(l.allocationLeaf.address, l.allocationLeaf.size))).toBe(l.allocationLeaf.hash)
    const m = l.memoryRoot
    expect(bytesToHex(memoryRootHash(nativeHasher, bytes(m.planesRoot), bytes(m.allocationsRoot)))).toBe(m.hash)
    const p = l.programLeaf
    expect(bytesToHex(programLeafHash(nativeHasher, bytes(p.programId), bytes(p.codeId), p.status, bytes(p.memoryRoot)))).toBe(p.hash)
    expect(bytesToHex(ref.programLeaf(bytes(p.programId), bytes(p.codeId), p.status, bytes(p.memoryRoot)))).toBe(p.hash)
    const plane = Uint8Array.from({ length: 65_536 }, (_, i) => i % 251)
    expect(bytesToHex(hashPlane(nativeHasher, plane))).toBe(l.planeOfBytes.planeRoot)
    expect(bytesToHex(ref.planeRoot(plane))).toBe(l.planeOfBytes.planeRoot)
  })

  it('path keys', () => {
    for (const { key, pathKey } of vectors.pathKeys.planes) expect(planePathKey(key)).toBe(pathKey)
    for (const { address, pathKey } of vectors.pathKeys.allocations) expect(allocationPathKey(address)).toBe(pathKey)
  })

  it.each<[string, Json]>(vectors.memories.map((m: Json) => [m.name, m]))('memory: %s', (_name, memory) => {
    const view = viewOf(memory)
    const commitment = ProgramCommitment.fromScratch(view)
    expect(bytesToHex(commitment.planesRoot())).toBe(memory.planesRoot)
    expect(bytesToHex(commitment.allocationsRoot())).toBe(memory.allocationsRoot)
    expect(bytesToHex(commitment.memoryRoot())).toBe(memory.memoryRoot)
    expect(commitment.planeKeys().map((key) => ({ key, planeRoot: bytesToHex(commitment.planeRoot(key)!) }))).toEqual(memory.planes)
    expect(bytesToHex(ref.referenceMemoryRoot(view.planes, view.allocs).memoryRoot)).toBe(memory.memoryRoot)
  })

  it.each<[string, Json]>(vectors.states.map((s: Json) => [s.name, s]))('state: %s', (_name, description) => {
    expect(bytesToHex(stateOf(description).root())).toBe(description.stateRoot)
    const programs = description.programs.map((p: Json) => ({
      id: bytes(p.programId), codeId: bytes(p.codeId), status: p.status, memoryRoot: bytes(vectors.memories[p.memory].memoryRoot),
    }))
    expect(bytesToHex(ref.referenceStateRoot(programs))).toBe(description.stateRoot)
  })

  it.each<[string, Json]>(vectors.proofs.map((p: Json) => [p.name, p]))('proof: %s', (name, entry) => {
    const result = verifyProof(entry.stateRoot, entry.proof)
    if (entry.expected.ok) {
      expect(result).toMatchObject({ ok: true, kind: entry.expected.kind })
      if (result.ok && result.kind === 'range') {
        expect([result.address, result.length, bytesToHex(result.data)]).toEqual([entry.expected.address, entry.expected.length, entry.expected.data])
      }
      if (result.ok && result.kind === 'absence') expect([result.region, result.plane]).toEqual([entry.expected.region, entry.expected.plane])
    } else {
      expect(result).toEqual(entry.expected)
    }
    if (name.startsWith('tampered')) return
    // The prover still writes exactly these proofs: the format is stable.
    const memory = vectors.memories[2]
    const view = viewOf(memory)
    const program = ProgramCommitment.fromScratch(view)
    const state = stateOf(vectors.states[2])
    const source = { state, program, view, programId: vectors.states[2].programs[2].programId }
    const again = entry.proof.kind === 'range'
      ? proveRange(source, entry.proof.address, entry.proof.length)
      : proveAbsence(source, Math.floor(entry.proof.plane.key / 65_536), entry.proof.plane.key % 65_536)
    expect(JSON.parse(JSON.stringify(again))).toEqual(entry.proof)
  })
})
