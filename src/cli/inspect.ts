/**
 * `strata inspect`: what a data directory holds. Without a program: the cycle, state root, codes, queue and
 * every program with its status, code, memory root and memory use. With one: its record, roots, and its memory
 * region by region and plane by plane, as a map of 4 KiB chunks with the allocations in each plane.
 */
import { PLANE_SIZE_BYTES } from '../constants.js'
import { CHUNK_SIZE_BYTES } from '../merkle/index.js'
import { formatAddress, splitAddress } from '../memory/index.js'
import { footprintOf } from '../memory/index.js'
import type { AllocationRecord } from '../memory/index.js'
import type { ProgramId } from '../message/index.js'
import type { Runtime } from '../scheduler/index.js'
import type { Command } from './args.js'
import { PLACE_HELP, PLACE_OPTION, placeOf, programArg, resolveProgram, withReader, type Place } from './data.js'
import { plural, type Out } from './output.js'

/** Allocations listed per plane in the human output (--json lists every one). */
const LISTED_PER_PLANE = 6
const CHUNKS_PER_PLANE = PLANE_SIZE_BYTES / CHUNK_SIZE_BYTES

export const inspect: Command = {
  name: 'inspect',
  usage: 'strata inspect [--data DIR | --url URL [--cache DIR]] [PROGRAM]',
  about: 'programs with status, code and memory roots; or one program\'s memory as a map',
  help: `Without PROGRAM: the data directory's cycle, state root, codes and queue, and every program with its
status, code id, memory root, allocations, live bytes and planes in use.
With PROGRAM (its id, or a unique prefix of at least 4 hex digits): its record (status, code, creator, where
ctx.state's header is), memory root and the state root, then its memory region by region and plane by
plane: a map of the plane's 16 chunks of 4 KiB (# full, + partly occupied, . free), the allocations that
start there, and each heap region's fragmentation. Gas is not shown: the runtime keeps no per-program gas
total (\`strata run\` prints gas per cycle). The directory is only read.

${PLACE_HELP}`,
  options: PLACE_OPTION,
  async run(args, out) {
    const [raw] = args.expect(0, 1, 'at most one PROGRAM')
    const place = await placeOf(args)
    const program = raw === undefined ? undefined : programArg(raw)
    return withReader(place, async (rt) => {
      if (program === undefined) overview(rt, place, out)
      else detail(rt, resolveProgram(rt, program, place.label), out)
      return 0
    })
  },
}

function overview(rt: Runtime, place: Place, out: Out): void {
  const programs = rt.programIds().map((id) => {
    const view = rt.program(id)
    const record = view.record()
    const stats = view.stats()
    return {
      id, status: record.status, codeId: record.codeId, creator: record.creator, memoryRoot: view.memoryRoot(),
      allocations: stats.allocations, liveBytes: stats.liveBytes, planesInUse: stats.planesInUse,
    }
  })
  const codes = rt.codeIds()
  out.line(place.options.dataDir !== undefined ? `data directory ${place.label}` : `database ${place.label}`)
  out.line(`  cycle ${rt.cycle}, state root ${rt.stateRoot()}`)
  out.line(`  ${plural(codes.length, 'code')}, ${plural(programs.length, 'program')}, ${plural(rt.queueLength, 'message')} queued, ` +
    `${rt.idle ? 'idle' : 'not idle'}`)
  if (programs.length > 0) {
    out.line('')
    out.line(`${'program'.padEnd(64)}  ${'status'.padEnd(12)}  ${'code'.padEnd(12)}  ${'memory root'.padEnd(16)}  allocs  live bytes  planes`)
    for (const p of programs) {
      out.line(`${p.id}  ${p.status.padEnd(12)}  ${p.codeId.slice(0, 12)}  ${p.memoryRoot.slice(0, 16)}  ` +
        `${String(p.allocations).padStart(6)}  ${String(p.liveBytes).padStart(10)}  ${String(p.planesInUse).padStart(6)}`)
    }
  }
  out.result({
    ...place.json, cycle: rt.cycle, stateRoot: rt.stateRoot(), queueLength: rt.queueLength, idle: rt.idle, codes, programs,
  })
}

interface PlaneMap {
  readonly key: number
  readonly region: number
  readonly plane: number
  /** Bytes of each 4 KiB chunk that live allocations occupy (sizes rounded up to the alignment). */
  readonly occupied: number[]
  /** Bytes of live allocations in the plane (their sizes). */
  liveBytes: number
  /** Allocations that start in this plane, ascending. */
  readonly allocations: AllocationRecord[]
}

/** The planes live allocations cover, ascending, with per-chunk occupancy. */
function planeMaps(allocations: readonly AllocationRecord[]): PlaneMap[] {
  const planes = new Map<number, PlaneMap>()
  const plane = (key: number): PlaneMap => {
    let map = planes.get(key)
    if (map === undefined) {
      const { region, plane: index } = splitAddress(key * PLANE_SIZE_BYTES)
      map = { key, region, plane: index, occupied: new Array<number>(CHUNKS_PER_PLANE).fill(0), liveBytes: 0, allocations: [] }
      planes.set(key, map)
    }
    return map
  }
  for (const allocation of allocations) {
    plane(Math.floor(allocation.address / PLANE_SIZE_BYTES)).allocations.push(allocation)
    const liveEnd = allocation.address + allocation.size
    const end = allocation.address + footprintOf(allocation.size)
    for (let at = allocation.address; at < end;) {
      const chunkEnd = (Math.floor(at / CHUNK_SIZE_BYTES) + 1) * CHUNK_SIZE_BYTES
      const bytes = Math.min(end, chunkEnd) - at
      const map = plane(Math.floor(at / PLANE_SIZE_BYTES))
      map.occupied[Math.floor((at % PLANE_SIZE_BYTES) / CHUNK_SIZE_BYTES)]! += bytes
      map.liveBytes += Math.max(0, Math.min(liveEnd, at + bytes) - at)
      at += bytes
    }
  }
  return [...planes.values()].sort((a, b) => a.key - b.key)
}

const cells = (map: PlaneMap): string =>
  map.occupied.map((bytes) => (bytes === 0 ? '.' : bytes >= CHUNK_SIZE_BYTES ? '#' : '+')).join('')

function detail(rt: Runtime, programId: ProgramId, out: Out): void {
  const view = rt.program(programId)
  const record = view.record()
  const stats = view.stats()
  const allocations = view.allocations()
  const maps = planeMaps(allocations)
  const stateSize = record.stateAddress === null ? undefined
    : allocations.find((a) => a.address === record.stateAddress)?.size

  out.line(`program ${programId}`)
  out.line(`  status ${record.status}, code ${record.codeId}`)
  out.line(`  created by ${record.creator}${record.inheritor !== undefined ? `, exited to ${record.inheritor}` : ''}`)
  out.line(`  memory root ${view.memoryRoot()}`)
  out.line(`  state root  ${rt.stateRoot()} (cycle ${rt.cycle})`)
  out.line(`  ${plural(stats.allocations, 'allocation')}, ${plural(stats.liveBytes, 'live byte')}; planes: ${stats.planesInUse} in use, ` +
    `${stats.planesMaterialized} holding data, budget ${stats.planesMax}`)
  if (record.stateAddress !== null) {
    out.line(`  ctx.state's header at ${formatAddress(record.stateAddress)} (address ${record.stateAddress})` +
      `${stateSize !== undefined ? `, ${plural(stateSize, 'byte')}` : ''}`)
  }
  for (const region of stats.regions) {
    out.line('')
    out.line(`region ${region.region}, ${region.type}: ${plural(region.allocations, 'allocation')}, ${plural(region.liveBytes, 'byte')} live, ` +
      `${plural(region.planesInUse, 'plane')} in use, span ${plural(region.spanBytes, 'byte')}` +
      `${region.type === 'heap' ? `, fragmentation ${region.fragmentation.toFixed(2)}` : ''}`)
    for (const map of maps.filter((m) => m.region === region.region)) {
      const starting = map.allocations.length
      out.line(`  plane ${String(map.plane).padEnd(5)} [${cells(map)}]  ${plural(map.liveBytes, 'byte')} live, ` +
        `${plural(starting, 'allocation')} start${starting === 1 ? 's' : ''} here`)
      for (const a of map.allocations.slice(0, LISTED_PER_PLANE)) {
        out.line(`      ${formatAddress(a.address).padEnd(18)} ${String(a.size).padStart(8)} bytes` +
          `${a.address === record.stateAddress ? "  ctx.state's header" : ''}`)
      }
      if (map.allocations.length > LISTED_PER_PLANE) {
        out.line(`      … and ${map.allocations.length - LISTED_PER_PLANE} more (--json lists all)`)
      }
    }
  }
  if (maps.length > 0) {
    out.line('')
    out.line('map: one cell per 4 KiB chunk of a plane: # full, + partly occupied, . free')
  }
  out.result({
    id: programId, status: record.status, codeId: record.codeId, creator: record.creator,
    ...(record.inheritor !== undefined ? { inheritor: record.inheritor } : {}),
    stateAddress: record.stateAddress, memoryRoot: view.memoryRoot(), stateRoot: rt.stateRoot(), cycle: rt.cycle,
    allocations: stats.allocations, liveBytes: stats.liveBytes, planesInUse: stats.planesInUse,
    planesMaterialized: stats.planesMaterialized, planesMax: stats.planesMax,
    regions: stats.regions.map((region) => ({
      ...region,
      planes: maps.filter((m) => m.region === region.region).map((m) => ({
        plane: m.plane, key: m.key, liveBytes: m.liveBytes, chunks: cells(m),
        allocations: m.allocations.map((a) => ({ address: a.address, at: formatAddress(a.address), size: a.size })),
      })),
    })),
  })
}
