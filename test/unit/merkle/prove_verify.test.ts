import { describe, expect, it } from 'vitest'
import {
  MerkleErrorCode, PROOF_RANGE_MAX_BYTES, ProgramCommitment, StateCommitment, bytesToHex, nativeHasher, proveAbsence,
  proveRange, verifyProof, type RangeProof,
} from '../../../src/merkle/index.js'
import { FakeView } from './fake_view.js'

const PLANE = 65_536
const programId = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i)
const codeId = new Uint8Array(32).fill(0xc0)

function world() {
  const view = new FakeView({ hints: true })
  // Region 0: one allocation over planes 0-2 (plane 1 never written); region 1: small ones.
  view.allocate(0, 3 * PLANE)
  view.allocate(2 ** 32, 64)
  view.allocate(2 ** 32 + 64, 8)
  const bytes = Uint8Array.from({ length: 3 * PLANE }, (_, i) => (i * 7 + 3) & 0xff)
  view.write(0, bytes.subarray(0, PLANE))
  view.write(2 * PLANE, bytes.subarray(2 * PLANE))
  view.write(2 ** 32, new Uint8Array(64).fill(0x11))
  const program = new ProgramCommitment()
  program.update(view)
  const state = new StateCommitment()
  for (let n = 0; n < 20; n += 1) {
    state.setProgram(Uint8Array.from({ length: 32 }, (_, i) => (n * 13 + i) & 0xff), { codeId, status: 1, memoryRoot: codeId })
  }
  state.setProgram(programId, { codeId, status: 1, memoryRoot: program.memoryRoot() })
  return { view, program, state, source: { state, program, view, programId } }
}

describe('range proofs', () => {
  const w = world()
  const root = w.state.root()

  it.each([
    ['one byte', 5, 1],
    ['inside one chunk', 100, 32],
    ['across a chunk boundary', 4090, 12],
    ['a whole chunk', 8192, 4096],
    ['into an absent plane', PLANE - 10, 20],
    ['across three planes, the middle one absent', PLANE - 3, PLANE + 10],
    ['the last byte of an allocation', 3 * PLANE - 1, 1],
    ['a whole small allocation', 2 ** 32, 64],
    ['an allocation of never-written bytes', 2 ** 32 + 64, 8],
  ])('proves %s', (_name, address, length) => {
    const proof = proveRange(w.source, address, length)
    // JSON round trip: proofs are plain data.
    const result = verifyProof(bytesToHex(root), JSON.parse(JSON.stringify(proof)))
    expect(result).toMatchObject({ ok: true, kind: 'range', address, length, programId: bytesToHex(programId), status: 1 })
    if (!result.ok || result.kind !== 'range') throw new Error('unreachable')
    expect(bytesToHex(result.data)).toBe(bytesToHex(w.view.read(address, length)))
    expect(result.memoryRoot).toBe(bytesToHex(w.program.memoryRoot()))
    // The native hasher, and a JSON string, give the same answer.
    expect(verifyProof(root, JSON.stringify(proof), { hasher: nativeHasher })).toEqual(result)
  })

  it('carries one chunk per 4 KiB touched and marks absent planes', () => {
    const proof = proveRange(w.source, PLANE - 3, PLANE + 10)
    expect(proof.planes.map((p) => [p.key, p.present])).toEqual([[0, true], [1, false], [2, true]])
    const chunks = proof.planes.map((p) => (p.present ? p.chunks.map((c) => c.index) : []))
    expect(chunks).toEqual([[15], [], [0]])
  })

  it('a proof from an older root fails against a newer root where the bytes changed', () => {
    const v = world()
    const old = proveRange(v.source, 100, 8)
    const oldRoot = v.state.root()
    v.view.write(100, new Uint8Array([0xff]))
    v.program.update(v.view)
    v.state.setProgram(programId, { codeId, status: 1, memoryRoot: v.program.memoryRoot() })
    const newRoot = v.state.root()
    expect(verifyProof(oldRoot, old).ok).toBe(true)
    expect(verifyProof(newRoot, old)).toMatchObject({ ok: false, reason: 'the proof is for another state root' })
    // Relabelled with the new root it still fails: its paths lead to the old one.
    expect(verifyProof(newRoot, { ...old, stateRoot: bytesToHex(newRoot) }).ok).toBe(false)
    expect(verifyProof(newRoot, proveRange(v.source, 100, 8))).toMatchObject({ ok: true })
  })

  it.each([
    ['outside any allocation', 3 * PLANE, 1, MerkleErrorCode.NOT_IN_ALLOCATION],
    ['past the end of its allocation', 3 * PLANE - 1, 2, MerkleErrorCode.NOT_IN_ALLOCATION],
    ['across two allocations', 2 ** 32 + 60, 8, MerkleErrorCode.NOT_IN_ALLOCATION],
    ['of zero bytes', 0, 0, MerkleErrorCode.RANGE_TOO_LONG],
    ['over the proof limit', 0, PROOF_RANGE_MAX_BYTES + 1, MerkleErrorCode.RANGE_TOO_LONG],
    ['at a negative address', -1, 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE],
    ['at a fractional address', 0.5, 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE],
    ['past the address space', 2 ** 40, 1, MerkleErrorCode.ADDRESS_OUT_OF_RANGE],
  ])('refuses a range %s', (_name, address, length, code) => {
    expect(() => proveRange(w.source, address, length)).toThrow(expect.objectContaining({ code }))
  })

  it('refuses unknown programs and stale commitments', () => {
    const v = world()
    expect(() => proveRange({ ...v.source, programId: new Uint8Array(32) }, 0, 1)).toThrow(
      expect.objectContaining({ code: MerkleErrorCode.UNKNOWN_PROGRAM }),
    )
    v.view.write(0, new Uint8Array([42]))
    v.program.update(v.view)
    expect(() => proveRange(v.source, 0, 1)).toThrow(expect.objectContaining({ code: MerkleErrorCode.STALE_COMMITMENT }))
    v.state.setProgram(programId, { codeId, status: 1, memoryRoot: v.program.memoryRoot() })
    v.view.planes.delete(0)
    expect(() => proveRange(v.source, 0, 1)).toThrow(expect.objectContaining({ code: MerkleErrorCode.STALE_COMMITMENT }))
  })

  it('proves a range of the largest allowed length', () => {
    const view = new FakeView()
    view.allocate(PLANE - 1, PROOF_RANGE_MAX_BYTES + 1)
    view.write(PLANE - 1, Uint8Array.from({ length: PROOF_RANGE_MAX_BYTES + 1 }, (_, i) => i % 251))
    const program = ProgramCommitment.fromScratch(view)
    const state = new StateCommitment()
    state.setProgram(programId, { codeId, status: 1, memoryRoot: program.memoryRoot() })
    const proof = proveRange({ state, program, view, programId }, PLANE - 1, PROOF_RANGE_MAX_BYTES)
    expect(proof.planes.length).toBe(17)
    const result = verifyProof(state.root(), proof, { hasher: nativeHasher })
    expect(result.ok && result.kind === 'range' && result.data.length).toBe(PROOF_RANGE_MAX_BYTES)
  })
})

describe('absence proofs', () => {
  const w = world()
  const root = w.state.root()

  it('prove that an unwritten plane reads as zeros, whether its path ends empty or at another plane', () => {
    const ends = new Set<string>()
    for (let plane = 0; plane < 64; plane += 1) {
      for (const region of [0, 1, 255]) {
        if (w.program.planeRoot(region * 65_536 + plane) !== undefined) continue
        const proof = proveAbsence(w.source, region, plane)
        ends.add(proof.plane.occupant === null ? 'empty' : 'occupant')
        expect(verifyProof(root, JSON.parse(JSON.stringify(proof)))).toMatchObject({
          ok: true, kind: 'absence', region, plane, planeKey: region * 65_536 + plane,
        })
      }
    }
    expect([...ends].sort()).toEqual(['empty', 'occupant'])
  })

  it('refuses planes that hold data and coordinates out of range', () => {
    expect(() => proveAbsence(w.source, 0, 0)).toThrow(expect.objectContaining({ code: MerkleErrorCode.PLANE_PRESENT }))
    expect(() => proveAbsence(w.source, 256, 0)).toThrow(expect.objectContaining({ code: MerkleErrorCode.ADDRESS_OUT_OF_RANGE }))
    expect(() => proveAbsence(w.source, 0, 65_536)).toThrow(expect.objectContaining({ code: MerkleErrorCode.ADDRESS_OUT_OF_RANGE }))
  })

  it('an absence proof cannot be bent to deny a present plane', () => {
    const proof = proveAbsence(w.source, 0, 1)
    // Claim plane 0 (present) is absent using plane 1's path, or with plane 0 as its own occupant.
    const renamed = { ...proof, plane: { ...proof.plane, key: 0 } }
    expect(verifyProof(root, renamed).ok).toBe(false)
    const planeRoot = bytesToHex(w.program.planeRoot(0)!)
    const self = { ...proof, plane: { ...proof.plane, key: 0, occupant: { key: 0, planeRoot } } }
    expect(verifyProof(root, self)).toMatchObject({ ok: false })
  })

  it('a range proof over a present plane cannot claim zeros', () => {
    const proof: RangeProof = proveRange(w.source, 100, 4)
    const zeroed = { ...proof, data: '00000000' }
    expect(verifyProof(root, zeroed)).toMatchObject({ ok: false })
  })
})
