import { describe, expect, it } from 'vitest'
import { ProgramCommitment, MerkleErrorCode, bytesToHex, portableHasher } from '../../../src/merkle/index.js'
import { FakeView } from './fake_view.js'
import * as ref from './reference.js'

function expectMatchesReference(commitment: ProgramCommitment, view: FakeView): void {
  const expected = ref.referenceMemoryRoot(view.planes, view.allocs)
  expect(bytesToHex(commitment.planesRoot())).toBe(bytesToHex(expected.planesRoot))
  expect(bytesToHex(commitment.allocationsRoot())).toBe(bytesToHex(expected.allocationsRoot))
  expect(bytesToHex(commitment.memoryRoot())).toBe(bytesToHex(expected.memoryRoot))
}

describe('program commitment', () => {
  it('an empty memory hashes to SHA-256(0x22 || EMPTY || EMPTY)', () => {
    const commitment = ProgramCommitment.fromScratch(new FakeView())
    expect(bytesToHex(commitment.memoryRoot())).toBe(bytesToHex(ref.memoryRoot(ref.EMPTY, ref.EMPTY)))
  })

  it('commits planes and allocations like the reference, incrementally and from scratch', () => {
    const view = new FakeView()
    const commitment = new ProgramCommitment()
    view.allocate(0, 100)
    view.allocate(2 ** 32, 70_000)
    view.write(10, new Uint8Array([1, 2, 3]))
    view.write(2 ** 32 + 65_530, new Uint8Array(20).fill(7))
    commitment.update(view)
    expectMatchesReference(commitment, view)
    view.free(0)
    view.write(2 ** 32 + 3, new Uint8Array([9]))
    commitment.update(view)
    expectMatchesReference(commitment, view)
    expect(bytesToHex(ProgramCommitment.fromScratch(view).memoryRoot())).toBe(bytesToHex(commitment.memoryRoot()))
  })

  it('a plane of zeros is committed as absent, whether stored or not', () => {
    const view = new FakeView()
    const commitment = new ProgramCommitment()
    view.write(65_536 * 3, new Uint8Array([5]))
    commitment.update(view)
    expect(commitment.planeKeys()).toEqual([3])
    const before = bytesToHex(commitment.memoryRoot())
    view.write(65_536 * 3, new Uint8Array([0]))
    const report = commitment.update(view)
    expect(report.planesRemoved).toBe(1)
    expect(commitment.planeKeys()).toEqual([])
    expect(commitment.planeRoot(3)).toBeUndefined()
    expect(bytesToHex(commitment.memoryRoot())).not.toBe(before)
    expect(bytesToHex(commitment.memoryRoot())).toBe(bytesToHex(ProgramCommitment.fromScratch(new FakeView()).memoryRoot()))
    view.write(65_536 * 3, new Uint8Array([5]))
    commitment.update(view)
    expect(bytesToHex(commitment.memoryRoot())).toBe(before)
    view.dropPlane(3)
    commitment.update(view)
    expect(commitment.planeCount).toBe(0)
  })

  it('with chunk masks it rehashes only the chunks written, to the same root', () => {
    const hinted = new FakeView({ hints: true })
    const plain = new FakeView()
    const a = new ProgramCommitment()
    const b = new ProgramCommitment({ hasher: portableHasher })
    for (const view of [hinted, plain]) view.write(0, new Uint8Array(65_536 * 2).fill(1))
    a.update(hinted)
    b.update(plain)
    for (const view of [hinted, plain]) {
      view.write(100, new Uint8Array([2]))
      view.write(65_536 + 4095, new Uint8Array([3, 3]))
    }
    const report = a.update(hinted)
    b.update(plain)
    expect(report).toEqual({ planesHashed: 2, chunksHashed: 3, planesRemoved: 0, allocationsChanged: 0 })
    expect(bytesToHex(a.memoryRoot())).toBe(bytesToHex(b.memoryRoot()))
    expectMatchesReference(a, hinted)
  })

  it('a fresh plane hashes only its written chunks; a plane re-created after a drop starts from zeros', () => {
    const view = new FakeView({ hints: true })
    const commitment = new ProgramCommitment()
    view.write(5 * 65_536 + 100, new Uint8Array([1, 2, 3]))
    expect(commitment.update(view)).toMatchObject({ planesHashed: 1, chunksHashed: 1 })
    expectMatchesReference(commitment, view)
    view.write(5 * 65_536 + 40_000, new Uint8Array([7]))
    view.dropPlane(5)
    view.write(5 * 65_536 + 9000, new Uint8Array([8]))
    expect(commitment.update(view)).toMatchObject({ planesHashed: 1, chunksHashed: 1 })
    expectMatchesReference(commitment, view)
  })

  it('a plane written again after being committed as all zeros is hashed whole', () => {
    const view = new FakeView({ hints: true })
    const commitment = new ProgramCommitment()
    view.write(65_536, new Uint8Array(10))
    commitment.update(view)
    expect(commitment.planeCount).toBe(0)
    view.write(65_536 + 5, new Uint8Array([9]))
    expect(commitment.update(view)).toMatchObject({ planesHashed: 1, chunksHashed: 16 })
    expectMatchesReference(commitment, view)
  })

  it('finds the allocation around an address', () => {
    const commitment = new ProgramCommitment()
    commitment.setAllocation(100, 10)
    commitment.setAllocation(200, 1)
    commitment.setAllocation(2 ** 39, 2 ** 20)
    expect(commitment.allocationContaining(99)).toBeUndefined()
    expect(commitment.allocationContaining(100)).toEqual({ address: 100, size: 10 })
    expect(commitment.allocationContaining(109)).toEqual({ address: 100, size: 10 })
    expect(commitment.allocationContaining(110)).toBeUndefined()
    expect(commitment.allocationContaining(200)).toEqual({ address: 200, size: 1 })
    expect(commitment.allocationContaining(2 ** 39 + 5)).toEqual({ address: 2 ** 39, size: 2 ** 20 })
    commitment.setAllocation(100, undefined)
    commitment.setAllocation(12345, undefined)
    expect(commitment.allocationContaining(105)).toBeUndefined()
    expect(commitment.allocationCount).toBe(2)
  })

  it.each([
    ['a plane key past 24 bits', (c: ProgramCommitment) => c.updatePlane(2 ** 24, new Uint8Array(65_536)), MerkleErrorCode.INVALID_ARGUMENT],
    ['a fractional plane key', (c: ProgramCommitment) => c.updatePlane(1.5, undefined), MerkleErrorCode.INVALID_ARGUMENT],
    ['a short plane', (c: ProgramCommitment) => c.updatePlane(1, new Uint8Array(10)), MerkleErrorCode.INVALID_ARGUMENT],
    ['an address past 40 bits', (c: ProgramCommitment) => c.setAllocation(2 ** 40, 8), MerkleErrorCode.ADDRESS_OUT_OF_RANGE],
    ['a zero size', (c: ProgramCommitment) => c.setAllocation(8, 0), MerkleErrorCode.INVALID_ARGUMENT],
    ['a size past the address space', (c: ProgramCommitment) => c.setAllocation(2 ** 40 - 8, 9), MerkleErrorCode.INVALID_ARGUMENT],
  ])('rejects %s', (_name, act, code) => {
    const commitment = new ProgramCommitment()
    const before = bytesToHex(commitment.memoryRoot())
    expect(() => act(commitment)).toThrow(expect.objectContaining({ code }))
    expect(bytesToHex(commitment.memoryRoot())).toBe(before)
  })
})
