// Key-value store on the raw memory API: each value is a heap allocation of its UTF-8 bytes; ctx.state keeps only
// the index (key -> address and length).
//
// Demonstrates: alloc / store / load / free, and compaction (Memory3D's Y-promotion). After many deletes the
// live values are scattered over many 64 KiB planes; { op: 'compact' } packs them into the fewest low planes,
// drops the emptied ones (refunding gas per plane) and returns a relocation map (old address -> new address).
// Any address the program keeps must be translated through that map, which is what the index rewrite does.
//
// Payloads (JSON):
//   { op: 'put', key, value }   -> { ok, replaced }     (frees the old block if the key existed)
//   { op: 'get', key }          -> { key, value } or { key, value: null }
//   { op: 'delete', key }       -> { ok, deleted }
//   { op: 'keys' }              -> { keys }
//   { op: 'compact' }           -> { planesFreed, moved, gasRefunded, fragmentationBefore, fragmentationAfter,
//                                    planesBefore, planesAfter }
import { defineProgram, type ProgramContext } from 'strata'

interface Entry {
  /** Start of the value's allocation. */
  at: number
  /** Value length in bytes (the allocation has at least one byte, so an empty value still has an address). */
  length: number
}

interface KvState {
  index: Record<string, Entry>
}

type Request =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  | { op: 'keys' }
  | { op: 'compact' }

function kv(ctx: ProgramContext): KvState {
  if (ctx.state.index === undefined) ctx.state.index = {}
  return ctx.state as unknown as KvState
}

/** Heap planes in use and their fragmentation (1 - planes after compaction / planes now) over all regions. */
function heapPicture(ctx: ProgramContext): { planes: number; fragmentation: number } {
  const report = ctx.mem.analyzeCompaction()
  const before = report.regions.reduce((sum, r) => sum + r.planesBefore, 0)
  const after = report.regions.reduce((sum, r) => sum + r.planesAfter, 0)
  return { planes: before, fragmentation: before === 0 ? 0 : 1 - after / before }
}

function reply(ctx: ProgramContext, value: unknown): void {
  ctx.reply(JSON.stringify(value))
}

export default defineProgram({
  handle(ctx) {
    const request = ctx.msg.json<Request>()
    const { index } = kv(ctx)
    if ('key' in request && typeof request.key !== 'string') throw new Error('key must be a string')
    switch (request.op) {
      case 'put': {
        if (typeof request.value !== 'string') throw new Error('value must be a string')
        const bytes = new TextEncoder().encode(request.value)
        const old = index[request.key]
        if (old !== undefined) ctx.mem.free(old.at)
        const at = ctx.mem.alloc(Math.max(1, bytes.length))
        if (bytes.length > 0) ctx.mem.store(at, bytes)
        index[request.key] = { at, length: bytes.length }
        return reply(ctx, { ok: true, replaced: old !== undefined })
      }
      case 'get': {
        const entry = index[request.key]
        const value = entry === undefined ? null
          : new TextDecoder().decode(entry.length === 0 ? new Uint8Array(0) : ctx.mem.load(entry.at, entry.length))
        return reply(ctx, { key: request.key, value })
      }
      case 'delete': {
        const entry = index[request.key]
        if (entry !== undefined) {
          ctx.mem.free(entry.at)
          delete index[request.key]
        }
        return reply(ctx, { ok: true, deleted: entry !== undefined })
      }
      case 'keys':
        return reply(ctx, { keys: Object.keys(index).sort() })
      case 'compact': {
        const before = heapPicture(ctx)
        const result = ctx.mem.compact()
        // Every address we hold must follow its allocation to where compaction moved it.
        for (const entry of Object.values(index)) entry.at = result.relocations.get(entry.at) ?? entry.at
        const after = heapPicture(ctx)
        return reply(ctx, {
          planesFreed: result.planesFreed, moved: result.relocations.size, gasRefunded: result.gasRefunded,
          fragmentationBefore: before.fragmentation, fragmentationAfter: after.fragmentation,
          planesBefore: before.planes, planesAfter: after.planes,
        })
      }
      default:
        throw new Error(`unknown op ${JSON.stringify((request as { op?: unknown }).op)}`)
    }
  },
})
