import { describe, expect, it } from 'vitest'
import { utf8 } from '../../../src/program/context.js'

describe('utf8 (syscall payload encoding)', () => {
  it('gives the same bytes as TextEncoder, on both sides of the ASCII loop limit', () => {
    const encoder = new TextEncoder()
    const cases = [
      '', '0', '42', 'inc', '\x7f', '\x80', 'é', 'x'.repeat(31) + 'é', 'a'.repeat(32), 'a'.repeat(33), 'ключ',
      '\ud800', 'a\udc00b', '\ud83d\ude00', 'z'.repeat(31) + '\ud800', 'mixed ascii, then € at the end',
    ]
    for (const text of cases) expect([...utf8(text)]).toEqual([...encoder.encode(text)])
  })
})
