import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ReplyCode, isErrorReply, replyCodeName } from '../../../src/message/index.js'

describe('reply codes', () => {
  const doc = readFileSync('docs/reply-codes.md', 'utf8')

  it.each(Object.entries(ReplyCode))('%s (%s) is documented in docs/reply-codes.md', (name, code) => {
    const hex = `0x${code.toString(16).padStart(2, '0')}`
    expect(doc).toMatch(new RegExp(`\\| \`${hex}\` \\| \`${name}\` \\|`))
  })

  it('documents no code the table does not have', () => {
    const documented = [...doc.matchAll(/\| `0x([0-9a-f]{2})` \|/g)].map((m) => Number.parseInt(m[1]!, 16))
    expect(documented.sort((a, b) => a - b)).toEqual(Object.values(ReplyCode).sort((a, b) => a - b))
  })

  it('codes are distinct bytes; successes below 0x10', () => {
    const codes: number[] = Object.values(ReplyCode)
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toBeLessThan(256)
    expect(isErrorReply(ReplyCode.SUCCESS_AUTO)).toBe(false)
    expect(isErrorReply(ReplyCode.SUCCESS_MANUAL)).toBe(false)
    expect(isErrorReply(ReplyCode.EXECUTION_ERROR)).toBe(true)
    expect(replyCodeName(0x11)).toBe('OUT_OF_GAS')
    expect(replyCodeName(0xee)).toBe('UNKNOWN_0xee')
  })
})
