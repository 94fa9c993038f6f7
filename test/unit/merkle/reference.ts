/**
 * A plain reference model of the commitment format, written from docs/merkle.md with @noble/hashes and
 * BigInt only, sharing no code with src/merkle: recursive roots over whole key sets, no caching, no stores.
 * Tests compare the real implementation against it.
 */
import { sha256 } from '@noble/hashes/sha2.js'

export const PLANE_BYTES = 65_536
export const CHUNK_BYTES = 4096

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

export function uintBE(value: number, width: number): Uint8Array {
  const out = new Uint8Array(width)
  let big = BigInt(value)
  for (let i = width - 1; i >= 0; i -= 1) {
    out[i] = Number(big & 0xffn)
    big >>= 8n
  }
  return out
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

export function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16))
}

export const EMPTY = sha256(new Uint8Array([0x00]))
export const node = (left: Uint8Array, right: Uint8Array): Uint8Array => sha256(concat(left, right))

/** Root of a plane of `chunkBytes` chunks: a complete binary tree over SHA-256(chunk), chunks untagged. */
export function planeRoot(bytes: Uint8Array, chunkBytes = CHUNK_BYTES): Uint8Array {
  let level: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    level.push(sha256(bytes.subarray(at, at + chunkBytes)))
  }
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) next.push(node(level[i]!, level[i + 1]!))
    level = next
  }
  return level[0]!
}

export const planeLeaf = (key: number, root: Uint8Array): Uint8Array =>
  sha256(concat(new Uint8Array([0x20]), uintBE(key, 3), root))
export const allocationLeaf = (address: number, size: number): Uint8Array =>
  sha256(concat(new Uint8Array([0x21]), uintBE(address, 5), uintBE(size, 5)))
export const memoryRoot = (planes: Uint8Array, allocations: Uint8Array): Uint8Array =>
  sha256(concat(new Uint8Array([0x22]), planes, allocations))
export const programLeaf = (id: Uint8Array, code: Uint8Array, status: number, memory: Uint8Array): Uint8Array =>
  sha256(concat(new Uint8Array([0x30]), id, code, new Uint8Array([status]), memory))

/** Path bits of a numeric key: (key * multiplier) mod 2^bits, most significant bit first. */
export function numericBits(key: number, multiplier: number, bits: number): number[] {
  const mixed = (BigInt(key) * BigInt(multiplier)) % (1n << BigInt(bits))
  return Array.from({ length: bits }, (_, d) => Number((mixed >> BigInt(bits - 1 - d)) & 1n))
}

export function byteBits(key: Uint8Array): number[] {
  return Array.from({ length: key.length * 8 }, (_, d) => (key[d >> 3]! >> (7 - (d & 7))) & 1)
}

export const PLANE_MULTIPLIER = 0x9e3779
export const ALLOCATION_MULTIPLIER = 0x9e3779b97f

export interface RefLeaf {
  readonly bits: readonly number[]
  readonly hash: Uint8Array
}

/** Root of a sparse tree with the single-leaf shortcut, straight from the definition. */
export function sparseRoot(leaves: readonly RefLeaf[], depth = 0): Uint8Array {
  if (leaves.length === 0) return EMPTY
  if (leaves.length === 1) return leaves[0]!.hash
  const left = leaves.filter((l) => l.bits[depth] === 0)
  const right = leaves.filter((l) => l.bits[depth] === 1)
  return node(sparseRoot(left, depth + 1), sparseRoot(right, depth + 1))
}

/** Memory root of planes (key -> bytes, zero planes skipped) and allocations (address -> size). */
export function referenceMemoryRoot(
  planes: ReadonlyMap<number, Uint8Array>, allocations: ReadonlyMap<number, number>,
): { planesRoot: Uint8Array; allocationsRoot: Uint8Array; memoryRoot: Uint8Array } {
  const planeLeaves: RefLeaf[] = []
  for (const [key, bytes] of planes) {
    if (bytes.every((b) => b === 0)) continue
    planeLeaves.push({ bits: numericBits(key, PLANE_MULTIPLIER, 24), hash: planeLeaf(key, planeRoot(bytes)) })
  }
  const allocationLeaves = [...allocations].map(([address, size]) => ({
    bits: numericBits(address, ALLOCATION_MULTIPLIER, 40), hash: allocationLeaf(address, size),
  }))
  const planesRoot = sparseRoot(planeLeaves)
  const allocationsRoot = sparseRoot(allocationLeaves)
  return { planesRoot, allocationsRoot, memoryRoot: memoryRoot(planesRoot, allocationsRoot) }
}

export interface RefProgram {
  readonly id: Uint8Array
  readonly codeId: Uint8Array
  readonly status: number
  readonly memoryRoot: Uint8Array
}

export function referenceStateRoot(programs: readonly RefProgram[]): Uint8Array {
  return sparseRoot(programs.map((p) => ({
    bits: byteBits(p.id), hash: programLeaf(p.id, p.codeId, p.status, p.memoryRoot),
  })))
}
