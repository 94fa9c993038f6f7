import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  childMessageId, codeIdOf, deriveProgramId, externalMessageId, toId, type CodeId, type UserId,
} from '../../../src/message/index.js'

const USER = '11'.repeat(32) as UserId
const CODE = 'cc'.repeat(32) as CodeId

describe('ids', () => {
  it('are deterministic and domain separated', () => {
    const external = externalMessageId(USER, 0)
    expect(externalMessageId(USER, 0)).toBe(external)
    expect(externalMessageId(USER, 1)).not.toBe(external)
    expect(childMessageId(external, 1, 0)).toBe(childMessageId(external, 1, 0))
    expect(childMessageId(external, 1, 0)).not.toBe(childMessageId(external, 2, 0))
    expect(childMessageId(external, 1, 0)).not.toBe(childMessageId(external, 1, 1))
    const salt = new TextEncoder().encode('s')
    expect(deriveProgramId(USER, CODE, salt)).toBe(deriveProgramId(USER, CODE, salt))
    expect(deriveProgramId(USER, CODE, salt)).not.toBe(deriveProgramId('22'.repeat(32) as UserId, CODE, salt))
    expect(codeIdOf(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('pins known values so an accidental change of derivation is caught', () => {
    expect(externalMessageId(USER, 0)).toMatchInlineSnapshot(`"b45e6690a4b9bd3bcc1e5baefea4cbc7da4b981e07edb7ff3e300a2990260ed6"`)
    expect(deriveProgramId(USER, CODE, new Uint8Array(0))).toMatchInlineSnapshot(`"7c364a8e5d723f75d94cc6fddd7b7a04032480db58dfc6c644c7705996156952"`)
  })

  it('child ids hash the cause, the cycle as u64 BE and the index as u32 BE', () => {
    const cause = externalMessageId(USER, 7)
    const tag = new TextEncoder().encode('strata/message/child')
    for (const [cycle, index] of [[0, 0], [1, 3], [0xffff_ffff, 1], [0x1_0000_0000, 0], [2 ** 40 + 12_345, 65_535], [Number.MAX_SAFE_INTEGER, 7]]) {
      const tail = Buffer.alloc(12)
      tail.writeBigUInt64BE(BigInt(cycle!), 0)
      tail.writeUInt32BE(index!, 8)
      const expected = createHash('sha256').update(tag).update(Buffer.from(cause, 'hex')).update(tail).digest('hex')
      expect(childMessageId(cause, cycle!, index!)).toBe(expected)
    }
    expect(childMessageId(cause, 1, 0)).toMatchInlineSnapshot(`"c73813f684c9b5e1f478681f5642fcdb87a1c2cd33b4a4e7e3be288cd193c149"`)
  })

  it('toId accepts hex in any case, 0x prefixes and 32-byte arrays, and rejects the rest', () => {
    expect(toId('0x' + 'AB'.repeat(32))).toBe('ab'.repeat(32))
    expect(toId(new Uint8Array(32).fill(1))).toBe('01'.repeat(32))
    for (const bad of ['ab', 'zz'.repeat(32), 5, null, new Uint8Array(31)]) {
      expect(() => toId(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }))
    }
  })
})

describe('canonicalIdBytes', () => {
  it('decodes exactly the canonical form and refuses everything else', async () => {
    const { canonicalIdBytes } = await import('../../../src/message/ids.js')
    const id = 'a0'.repeat(31) + '9f'
    expect(canonicalIdBytes(id)).toEqual(Buffer.from(id, 'hex'))
    for (const bad of [id.toUpperCase(), id.slice(1), `${id}0`, `${id.slice(0, 63)}g`, `${id.slice(0, 63)}\u0100`, `0x${id.slice(2)}`, 42, undefined]) {
      expect(canonicalIdBytes(bad)).toBeUndefined()
    }
  })
})
