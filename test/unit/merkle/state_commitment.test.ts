import { describe, expect, it } from 'vitest'
import {
  EMPTY_STATE_ROOT_HEX, MerkleErrorCode, ProgramStatusCode, StateCommitment, bytesToHex,
} from '../../../src/merkle/index.js'
import * as ref from './reference.js'

const id = (n: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i * 7) & 0xff)

describe('state commitment', () => {
  it('has the documented empty root', () => {
    expect(bytesToHex(new StateCommitment().root())).toBe(EMPTY_STATE_ROOT_HEX)
    expect(EMPTY_STATE_ROOT_HEX).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d')
  })

  it('commits programs like the reference and forgets removed ones', () => {
    const state = new StateCommitment()
    const programs: ref.RefProgram[] = []
    for (let n = 0; n < 50; n += 1) {
      const program = { id: id(n), codeId: id(1000 + n), status: n % 4, memoryRoot: id(2000 + n) }
      programs.push(program)
      state.setProgram(bytesToHex(program.id), program)
    }
    expect(bytesToHex(state.root())).toBe(bytesToHex(ref.referenceStateRoot(programs)))
    expect(state.size).toBe(50)
    state.setProgram(id(7), { codeId: id(1), status: ProgramStatusCode.EXITED, memoryRoot: id(2) })
    programs[7] = { id: id(7), codeId: id(1), status: 2, memoryRoot: id(2) }
    expect(state.removeProgram(id(3))).toBe(true)
    expect(state.removeProgram(id(3))).toBe(false)
    programs.splice(3, 1)
    expect(bytesToHex(state.root())).toBe(bytesToHex(ref.referenceStateRoot(programs)))
    expect(state.program(id(3))).toBeUndefined()
    expect(state.program(id(7))).toEqual({ codeId: id(1), status: 2, memoryRoot: id(2) })
  })

  it('a single program\'s state root is its leaf', () => {
    const state = new StateCommitment()
    state.setProgram(id(1), { codeId: id(2), status: 1, memoryRoot: id(3) })
    expect(bytesToHex(state.root())).toBe(bytesToHex(ref.programLeaf(id(1), id(2), 1, id(3))))
  })

  it('keeps its own copies of inputs and outputs', () => {
    const state = new StateCommitment()
    const codeId = id(2)
    state.setProgram(id(1), { codeId, status: 1, memoryRoot: id(3) })
    const root = bytesToHex(state.root())
    codeId.fill(0)
    state.program(id(1))!.memoryRoot.fill(0)
    state.root().fill(0)
    expect(bytesToHex(state.root())).toBe(root)
  })

  it.each([
    ['a short program id', () => new StateCommitment().setProgram(new Uint8Array(31), { codeId: id(1), status: 0, memoryRoot: id(1) })],
    ['upper-case hex', () => new StateCommitment().setProgram('AB'.repeat(32), { codeId: id(1), status: 0, memoryRoot: id(1) })],
    ['a status of 4', () => new StateCommitment().setProgram(id(0), { codeId: id(1), status: 4, memoryRoot: id(1) })],
    ['a fractional status', () => new StateCommitment().setProgram(id(0), { codeId: id(1), status: 0.5, memoryRoot: id(1) })],
    ['a missing memory root', () => new StateCommitment().setProgram(id(0), { codeId: id(1), status: 0, memoryRoot: undefined as never })],
    ['a bad id on lookup', () => new StateCommitment().program('zz')],
  ])('rejects %s with INVALID_ARGUMENT', (_name, act) => {
    expect(act).toThrow(expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }))
  })
})
