import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ProgramCommitment, StateCommitment, bytesToHex, cryptoOnlyHasher, nativeHasher, portableHasher, proveAbsence,
  proveRange, verifyProof, type Hasher, type MerkleProof,
} from '../../src/merkle/index.js'
import { FakeView } from '../unit/merkle/fake_view.js'
import * as ref from '../unit/merkle/reference.js'

const PLANE = 65_536
const programId = Uint8Array.from({ length: 32 }, (_, i) => i * 5)
const codeId = new Uint8Array(32).fill(9)

/** Places in a small corner of the address space (3 regions x 4 planes) so operations collide often. */
const place = fc.record({
  region: fc.integer({ min: 0, max: 2 }),
  plane: fc.integer({ min: 0, max: 3 }),
  offset: fc.integer({ min: 0, max: PLANE - 1 }),
}).map(({ region, plane, offset }) => region * 2 ** 32 + plane * PLANE + offset)

type Op =
  | { readonly kind: 'alloc'; readonly address: number; readonly size: number }
  | { readonly kind: 'free'; readonly pick: number }
  | { readonly kind: 'write'; readonly address: number; readonly bytes: Uint8Array }
  | { readonly kind: 'zero'; readonly address: number; readonly length: number }
  | { readonly kind: 'drop'; readonly pick: number }
  | { readonly kind: 'commit' }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('alloc' as const), address: place.map((a) => a - (a % 8)), size: fc.integer({ min: 1, max: 80_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), address: place, bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('zero' as const), address: place, length: fc.integer({ min: 1, max: 70_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'commit' as const }) },
)

/** Applies operations to a fake memory, committing incrementally whenever an op says so. */
function run(ops: readonly Op[], view: FakeView, commitment: ProgramCommitment): void {
  for (const o of ops) {
    switch (o.kind) {
      case 'alloc': {
        const end = o.address + o.size
        const region = Math.floor(o.address / 2 ** 32)
        const overlaps = [...view.allocs].some(([a, s]) => a < end && o.address < a + s)
        if (!overlaps && end <= (region + 1) * 2 ** 32) view.allocate(o.address, o.size)
        break
      }
      case 'free': {
        const live = [...view.allocs.keys()]
        if (live.length > 0) view.free(live[o.pick % live.length]!)
        break
      }
      case 'write':
        view.write(o.address, o.bytes.subarray(0, Math.min(o.bytes.length, 2 ** 40 - o.address)))
        break
      case 'zero':
        view.write(o.address, new Uint8Array(o.length))
        break
      case 'drop': {
        const keys = [...view.planes.keys()]
        if (keys.length > 0) view.dropPlane(keys[o.pick % keys.length]!)
        break
      }
      case 'commit':
        commitment.update(view)
        break
    }
  }
  commitment.update(view)
}

function build(ops: readonly Op[], hints: boolean) {
  const view = new FakeView({ hints })
  const program = new ProgramCommitment()
  run(ops, view, program)
  const state = new StateCommitment()
  state.setProgram(new Uint8Array(32).fill(0xff), { codeId, status: 1, memoryRoot: codeId })
  state.setProgram(programId, { codeId, status: 1, memoryRoot: program.memoryRoot() })
  return { view, program, state, root: state.root(), source: { state, program, view, programId } }
}

/** Every hex string of a proof that carries data or a hash, as [path, text] pairs. */
function hexFields(proof: unknown, at = ''): [string, string][] {
  if (typeof proof === 'string') return /^[0-9a-f]+$/.test(proof) && proof.length % 2 === 0 ? [[at, proof]] : []
  if (Array.isArray(proof)) return proof.flatMap((item, i) => hexFields(item, `${at}[${i}]`))
  if (proof !== null && typeof proof === 'object') {
    return Object.entries(proof).flatMap(([k, v]) => (k === 'format' || k === 'kind' ? [] : hexFields(v, `${at}.${k}`)))
  }
  return []
}

function setAt(root: any, path: string, value: string): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  const keys = [...path.matchAll(/\.([A-Za-z]+)|\[(\d+)\]/g)].map((m) => m[1] ?? Number(m[2]))
  let target = root
  for (const key of keys.slice(0, -1)) target = target[key!]
  target[keys[keys.length - 1]!] = value
}

describe('merkle properties', () => {
  it('incremental roots (with and without write ranges) equal from-scratch and reference roots', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
      const hinted = build(ops, true)
      const plain = build(ops, false)
      const scratch = ProgramCommitment.fromScratch(hinted.view)
      const expected = ref.referenceMemoryRoot(hinted.view.planes, hinted.view.allocs).memoryRoot
      expect(bytesToHex(hinted.program.memoryRoot())).toBe(bytesToHex(expected))
      expect(bytesToHex(plain.program.memoryRoot())).toBe(bytesToHex(expected))
      expect(bytesToHex(scratch.memoryRoot())).toBe(bytesToHex(expected))
    }), { numRuns: 200 })
  })

  it('proofs of random ranges inside live allocations verify and return the bytes', () => {
    fc.assert(fc.property(
      fc.array(op, { minLength: 1, maxLength: 25 }), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 70_000 }),
      (ops, pick, startFraction, wanted) => {
        const w = build(ops, true)
        const live = w.view.allocations()
        fc.pre(live.length > 0)
        const { address: start, size } = live[pick % live.length]!
        const address = start + Math.floor(startFraction * (size - 1))
        const length = Math.min(wanted, start + size - address)
        const proof = proveRange(w.source, address, length)
        const result = verifyProof(w.root, JSON.parse(JSON.stringify(proof)))
        expect(result.ok).toBe(true)
        if (result.ok && result.kind === 'range') expect(bytesToHex(result.data)).toBe(bytesToHex(w.view.read(address, length)))
      },
    ), { numRuns: 300 })
  })

  it('flipping any bit of a proof\'s data or hashes makes it fail', () => {
    fc.assert(fc.property(
      fc.array(op, { minLength: 1, maxLength: 15 }), fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(),
      (ops, pickRange, pickField, pickByte, bit, absence) => {
        const w = build(ops, false)
        let proof: MerkleProof
        if (absence) {
          const key = [0, 1, 2, 3, 65_536, 65_539].find((k) => w.program.planeRoot(k) === undefined)
          fc.pre(key !== undefined)
          proof = proveAbsence(w.source, Math.floor(key! / 65_536), key! % 65_536)
        } else {
          const live = w.view.allocations()
          fc.pre(live.length > 0)
          const { address, size } = live[pickRange % live.length]!
          proof = proveRange(w.source, address, Math.min(size, 40))
        }
        const fields = hexFields(proof)
        const [path, text] = fields[pickField % fields.length]!
        const byte = pickByte % (text.length / 2)
        const flipped = (parseInt(text.slice(byte * 2, byte * 2 + 2), 16) ^ (1 << bit)).toString(16).padStart(2, '0')
        const mutated = JSON.parse(JSON.stringify(proof))
        setAt(mutated, path, text.slice(0, byte * 2) + flipped + text.slice(byte * 2 + 2))
        expect(verifyProof(w.root, proof).ok).toBe(true)
        expect(verifyProof(w.root, mutated), `flipped bit ${bit} of byte ${byte} of ${path}`).toMatchObject({ ok: false })
      },
    ), { numRuns: 300 })
  })

  it('absence proofs verify for every plane the commitment does not hold', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 20 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 5 }), (ops, region, plane) => {
      const w = build(ops, true)
      fc.pre(w.program.planeRoot(region * 65_536 + plane) === undefined)
      const result = verifyProof(w.root, proveAbsence(w.source, region, plane))
      expect(result).toMatchObject({ ok: true, kind: 'absence', region, plane })
    }), { numRuns: 200 })
  })

  it('native, node:crypto-only and noble hashers agree', () => {
    const hashers: Hasher[] = [nativeHasher, cryptoOnlyHasher, portableHasher]
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 20 }), (data, nodes) => {
      const digests = hashers.map((h) => bytesToHex(h.digest(data)))
      expect(new Set(digests).size).toBe(1)
      const input = Uint8Array.from({ length: nodes * 64 }, (_, i) => data[i % Math.max(1, data.length)] ?? i)
      const outputs = hashers.map((h) => {
        const out = new Uint8Array(nodes * 32)
        h.hashNodesInto(input, out)
        return bytesToHex(out)
      })
      expect(new Set(outputs).size).toBe(1)
    }), { numRuns: 300 })
  })
})
