import { describe, expect, it } from 'vitest'
import {
  ProgramCommitment, StateCommitment, bytesToHex, proveAbsence, proveRange, verifyProof,
} from '../../../src/merkle/index.js'
import { FakeView } from './fake_view.js'

const PLANE = 65_536
const programId = new Uint8Array(32).fill(0x5a)

const view = new FakeView()
view.allocate(0, 2 * PLANE)
view.write(0, Uint8Array.from({ length: PLANE + 100 }, (_, i) => (i * 11) & 0xff))
const program = ProgramCommitment.fromScratch(view)
const state = new StateCommitment()
state.setProgram(new Uint8Array(32).fill(1), { codeId: new Uint8Array(32), status: 1, memoryRoot: new Uint8Array(32) })
state.setProgram(programId, { codeId: new Uint8Array(32).fill(2), status: 1, memoryRoot: program.memoryRoot() })
const root = bytesToHex(state.root())
const source = { state, program, view, programId }
const rangeProof = JSON.stringify(proveRange(source, PLANE - 4, 8))
const absenceProof = JSON.stringify(proveAbsence(source, 0, 9))

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any
const range = (): Json => JSON.parse(rangeProof)
const absence = (): Json => JSON.parse(absenceProof)
const hash = (c: string): string => c.repeat(64)

/** Each row mutilates a valid proof; verification must return ok:false and never throw. */
const mutilations: readonly (readonly [string, () => unknown])[] = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['a number', () => 42],
  ['an array', () => [range()]],
  ['invalid JSON text', () => '{"format":'],
  ['JSON text of the wrong thing', () => '"hello"'],
  ['JSON text over the size limit', () => ' '.repeat(8 * 1024 * 1024 + 1)],
  ['a wrong format', () => ({ ...range(), format: 'strata.merkle/2' })],
  ['a missing kind', () => ({ ...range(), kind: undefined })],
  ['an unknown kind', () => ({ ...range(), kind: 'both' })],
  ['a missing state root', () => ({ ...range(), stateRoot: undefined })],
  ['another state root', () => ({ ...range(), stateRoot: hash('0') })],
  ['a missing program', () => ({ ...range(), program: undefined })],
  ['a program id of 31 bytes', (p = range()) => ({ ...p, program: { ...p.program, programId: p.program.programId.slice(2) } })],
  ['an upper-case program id', (p = range()) => ({ ...p, program: { ...p.program, programId: p.program.programId.toUpperCase() } })],
  ['a status of 4', (p = range()) => ({ ...p, program: { ...p.program, status: 4 } })],
  ['a status as text', (p = range()) => ({ ...p, program: { ...p.program, status: '1' } })],
  ['another status', (p = range()) => ({ ...p, program: { ...p.program, status: 2 } })],
  ['program siblings as a string', (p = range()) => ({ ...p, program: { ...p.program, siblings: 'ab' } })],
  ['a truncated program path', (p = range()) => ({ ...p, program: { ...p.program, siblings: p.program.siblings.slice(1) } })],
  ['a program path one too long', (p = range()) => ({ ...p, program: { ...p.program, siblings: [...p.program.siblings, hash('1')] } })],
  ['257 program siblings', (p = range()) => ({ ...p, program: { ...p.program, siblings: Array(257).fill(hash('1')) } })],
  ['a huge sparse sibling array', (p = range()) => ({ ...p, program: { ...p.program, siblings: new Array(2 ** 31) } })],
  ['a sibling of 63 digits', (p = range()) => ({ ...p, program: { ...p.program, siblings: [p.program.siblings[0].slice(1), ...p.program.siblings.slice(1)] } })],
  ['a sibling that is a number', (p = range()) => ({ ...p, program: { ...p.program, siblings: [1, ...p.program.siblings.slice(1)] } })],
  ['a negative address', () => ({ ...range(), address: -1 })],
  ['an address off by one', (p = range()) => ({ ...p, address: p.address + 1 })],
  ['an address past 2^40', () => ({ ...range(), address: 2 ** 40 })],
  ['an address as text', (p = range()) => ({ ...p, address: String(p.address) })],
  ['NaN length', () => ({ ...range(), length: Number.NaN })],
  ['a zero length', () => ({ ...range(), length: 0 })],
  ['a length over the limit', () => ({ ...range(), length: 2 ** 20 + 1 })],
  ['a longer length than the data', (p = range()) => ({ ...p, length: p.length + 1 })],
  ['data one byte short', (p = range()) => ({ ...p, data: p.data.slice(2) })],
  ['data with a non-hex digit', (p = range()) => ({ ...p, data: `zz${p.data.slice(2)}` })],
  ['a missing allocation', () => ({ ...range(), allocation: null })],
  ['an allocation that ends before the range', (p = range()) => ({ ...p, allocation: { ...p.allocation, size: PLANE } })],
  ['an allocation grown to cover more', (p = range()) => ({ ...p, allocation: { ...p.allocation, size: p.allocation.size + 8 } })],
  ['an allocation size past 2^40', (p = range()) => ({ ...p, allocation: { ...p.allocation, size: 2 ** 40 } })],
  ['an allocation that crosses into the next region', (p = range()) => ({ ...p, allocation: { ...p.allocation, size: 2 ** 32 } })],
  ['41 allocation siblings', (p = range()) => ({ ...p, allocation: { ...p.allocation, siblings: Array(41).fill(hash('2')) } })],
  ['planes missing', () => ({ ...range(), planes: undefined })],
  ['one plane missing', (p = range()) => ({ ...p, planes: p.planes.slice(1) })],
  ['planes swapped', (p = range()) => ({ ...p, planes: [p.planes[1], p.planes[0]] })],
  ['an extra plane', (p = range()) => ({ ...p, planes: [...p.planes, p.planes[1]] })],
  ['a plane key off by one', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], key: 1 }, p.planes[1]] })],
  ['a present plane marked absent', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], present: false, occupant: null }, p.planes[1]] })],
  ['present as a string', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], present: 'true' }, p.planes[1]] })],
  ['no chunks', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [] }, p.planes[1]] })],
  ['a chunk index out of range', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [{ ...p.planes[0].chunks[0], index: 16 }] }, p.planes[1]] })],
  ['a chunk from elsewhere in the plane', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [{ ...p.planes[0].chunks[0], index: 14 }] }, p.planes[1]] })],
  ['a truncated chunk', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [{ ...p.planes[0].chunks[0], bytes: p.planes[0].chunks[0].bytes.slice(2) }] }, p.planes[1]] })],
  ['a chunk path of 3', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [{ ...p.planes[0].chunks[0], siblings: p.planes[0].chunks[0].siblings.slice(1) }] }, p.planes[1]] })],
  ['a chunk path of 5', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: [{ ...p.planes[0].chunks[0], siblings: [...p.planes[0].chunks[0].siblings, hash('3')] }] }, p.planes[1]] })],
  ['a plane path of 25', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], siblings: Array(25).fill(hash('4')) }, p.planes[1]] })],
  ['a chunk that is a string', (p = range()) => ({ ...p, planes: [{ ...p.planes[0], chunks: ['x'] }, p.planes[1]] })],
  ['the range proof relabelled as absence', () => ({ ...range(), kind: 'absence' })],
  ['the absence proof relabelled as range', () => ({ ...absence(), kind: 'range' })],
  ['an absent plane marked present', (p = absence()) => ({ ...p, plane: { ...p.plane, present: true } })],
  ['an absence for another plane', (p = absence()) => ({ ...p, plane: { ...p.plane, key: p.plane.key + 1 } })],
  ['an absence plane key past 24 bits', (p = absence()) => ({ ...p, plane: { ...p.plane, key: 2 ** 24 } })],
  ['an invented occupant', (p = absence()) => ({ ...p, plane: { ...p.plane, occupant: { key: 5, planeRoot: hash('6') } } })],
  ['an occupant that is a string', (p = absence()) => ({ ...p, plane: { ...p.plane, occupant: 'none' } })],
  ['a missing occupant', (p = absence()) => ({ ...p, plane: { ...p.plane, occupant: undefined } })],
  ['a getter that throws', (p = range()) => Object.defineProperty({ ...p }, 'planes', { get() { throw new Error('boom') } })],
  ['a Proxy that throws on every access', () => new Proxy({}, { get() { throw new RangeError('trap') } })],
  ['an array Proxy that lies about its length', (p = range()) => ({
    ...p, program: { ...p.program, siblings: new Proxy(p.program.siblings, { get: (t, k) => (k === 'length' ? 1e12 : Reflect.get(t, k)) }) },
  })],
]

describe('decisions for verifiers (docs/merkle.md)', () => {
  it('reads numbers by value: 1.0 and 32e0 are integers, as JSON.parse gives them', () => {
    const p = range()
    const text = JSON.stringify(p).replace(`"length":${p.length}`, `"length":${p.length}.0`)
    expect(text).toContain(`${p.length}.0`)
    expect(verifyProof(root, text)).toMatchObject({ ok: true })
    expect(verifyProof(root, { ...p, length: p.length + 0.5 })).toMatchObject({ ok: false })
  })

  it('ignores fields it does not define, and reports only what it checked', () => {
    const result = verifyProof(root, { ...range(), note: 'trust me', program: { ...range().program, extra: 1 } })
    expect(result).toMatchObject({ ok: true })
    expect(JSON.stringify(result)).not.toContain('trust me')
  })
})

describe('malformed proofs', () => {
  it('the unmutilated proofs verify', () => {
    expect(verifyProof(root, range())).toMatchObject({ ok: true })
    expect(verifyProof(root, absence())).toMatchObject({ ok: true })
  })

  it.each(mutilations)('rejects %s without throwing', (_name, make) => {
    const started = Date.now()
    const result = verifyProof(root, make())
    expect(result.ok).toBe(false)
    if (!result.ok) expect(typeof result.reason).toBe('string')
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it.each([
    ['a short root', 'ab'],
    ['a root of 33 bytes', new Uint8Array(33)],
    ['a number', 7 as unknown as string],
  ])('rejects %s as the expected root', (_name, badRoot) => {
    expect(verifyProof(badRoot, range())).toMatchObject({ ok: false })
  })
})
