/**
 * ctx.random(): sfc32 (a small, fast, well-tested 128-bit-state PRNG) seeded from the message id, so a message
 * draws the same numbers on every run, stream and machine.
 */
export function seededRandom(messageId: string): () => number {
  let a = Number.parseInt(messageId.slice(0, 8), 16) | 0
  let b = Number.parseInt(messageId.slice(8, 16), 16) | 0
  let c = Number.parseInt(messageId.slice(16, 24), 16) | 0
  let d = Number.parseInt(messageId.slice(24, 32), 16) | 0
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i += 1) next()
  return next
}
