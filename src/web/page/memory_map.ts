/**
 * A program's 3D memory as a map: one row per region in use, one cell per plane up to the region's high-water
 * mark. A cell's shade is how much of the plane live allocations cover; a ring marks planes written in the
 * last cycles. `planeCells` is the model (pure), `memoryMap` draws it.
 */
import type { Allocation, ProgramDetail } from './api.js'
import { el } from './dom.js'
import { bytes, num, percent, PLANE_SIZE_BYTES } from './format.js'

/** Planes drawn per region; a region's high-water mark can be 65,536 planes. */
export const PLANES_SHOWN_MAX = 512
/** A plane written within this many cycles of the latest is ringed. */
export const RECENT_CYCLES = 8

const PLANES_PER_REGION = 65_536

export interface PlaneCell {
  readonly region: number
  readonly plane: number
  readonly key: number
  /** Bytes of the plane covered by live allocations. */
  readonly coveredBytes: number
  /** Live allocations overlapping the plane. */
  readonly allocations: number
  readonly hasData: boolean
  /** The last cycle known to have written it, or null. */
  readonly lastWritten: number | null
}

export interface RegionRow {
  readonly region: number
  readonly type: string
  /** Planes up to the high-water mark (and any plane holding data beyond it). */
  readonly planeCount: number
  readonly cells: readonly PlaneCell[]
}

/** Bytes of each plane (by key) covered by `allocations`, and how many allocations touch each. */
export function coverage(allocations: readonly Allocation[]): Map<number, { bytes: number; count: number }> {
  const out = new Map<number, { bytes: number; count: number }>()
  for (const { address, size } of allocations) {
    const end = address + size
    for (let planeStart = address - (address % PLANE_SIZE_BYTES); planeStart < end; planeStart += PLANE_SIZE_BYTES) {
      const key = planeStart / PLANE_SIZE_BYTES
      const overlap = Math.min(end, planeStart + PLANE_SIZE_BYTES) - Math.max(address, planeStart)
      const entry = out.get(key) ?? { bytes: 0, count: 0 }
      entry.bytes += overlap
      entry.count += 1
      out.set(key, entry)
    }
  }
  return out
}

export function planeCells(detail: ProgramDetail, written: ReadonlyMap<number, number>): RegionRow[] {
  const covered = coverage(detail.allocations)
  const withData = new Set(detail.planes)
  const rows: RegionRow[] = []
  for (const stats of detail.stats.regions) {
    const base = stats.region * PLANES_PER_REGION
    let planeCount = Math.ceil(stats.spanBytes / PLANE_SIZE_BYTES)
    for (const key of withData) {
      if (key >= base && key < base + PLANES_PER_REGION) planeCount = Math.max(planeCount, key - base + 1)
    }
    if (planeCount === 0) continue // a region with nothing below its mark (an emptied stack): not in use
    const cells: PlaneCell[] = []
    for (let plane = 0; plane < Math.min(planeCount, PLANES_SHOWN_MAX); plane += 1) {
      const key = base + plane
      const cover = covered.get(key)
      cells.push({
        region: stats.region, plane, key, coveredBytes: cover?.bytes ?? 0, allocations: cover?.count ?? 0,
        hasData: withData.has(key), lastWritten: written.get(key) ?? null,
      })
    }
    rows.push({ region: stats.region, type: stats.type, planeCount, cells })
  }
  return rows
}

function shade(cell: PlaneCell): string {
  const fraction = cell.coveredBytes / PLANE_SIZE_BYTES
  if (fraction === 0) return cell.hasData ? 'c0 data' : 'c0'
  return `c${Math.min(4, Math.ceil(fraction * 4))}`
}

export function memoryMap(rows: readonly RegionRow[], latestCycle: number, onPick: (cell: PlaneCell) => void): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'muted' }, 'This program has no memory in use.')
  const map = el('div', { class: 'memory-map' })
  for (const regionRow of rows) {
    const cells = el('div', { class: 'cells' })
    for (const cell of regionRow.cells) {
      let ring = ''
      if (cell.lastWritten !== null) {
        const age = latestCycle - cell.lastWritten
        ring = age <= 0 ? ' written-now' : age <= RECENT_CYCLES ? ' written-recently' : ''
      }
      const fraction = cell.coveredBytes / PLANE_SIZE_BYTES
      const title = `region ${cell.region}, plane ${cell.plane} (key ${cell.key}): ${percent(fraction)} covered by ` +
        `${cell.allocations} allocation${cell.allocations === 1 ? '' : 's'}` +
        `${cell.hasData ? ', holds data' : ', no data stored'}` +
        `${cell.lastWritten === null ? '' : `; last written in cycle ${cell.lastWritten}`}`
      const button = el('button', {
        class: `cell ${shade(cell)}${ring}`,
        attrs: { type: 'button', title, 'aria-label': title, 'data-key': cell.key, 'data-region': cell.region, 'data-plane': cell.plane },
      })
      button.addEventListener('click', () => onPick(cell))
      cells.appendChild(button)
    }
    const shown = regionRow.cells.length
    map.appendChild(el('div', { class: 'region-row', attrs: { 'data-region': regionRow.region } },
      el('div', { class: 'region-label' }, el('strong', null, `region ${regionRow.region}`), el('span', null, regionRow.type),
        el('small', null, `${num(regionRow.planeCount)} plane${regionRow.planeCount === 1 ? '' : 's'}`)),
      el('div', null, cells, shown < regionRow.planeCount
        ? el('p', { class: 'note' }, `showing planes 0–${shown - 1} of ${num(regionRow.planeCount)} (${bytes(regionRow.planeCount * PLANE_SIZE_BYTES)} up to the high-water mark)`)
        : null)))
  }
  const legend = el('div', { class: 'legend' },
    el('span', null, 'coverage by live allocations:'),
    ...['c0', 'c1', 'c2', 'c3', 'c4'].map((c, i) => el('span', { class: 'legend-item' }, el('i', { class: `cell ${c}` }),
      ['none', '≤ 25%', '≤ 50%', '≤ 75%', '≤ 100%'][i]!)),
    el('span', { class: 'legend-item' }, el('i', { class: 'cell c0 data' }), 'data, no allocation'),
    el('span', { class: 'legend-item' }, el('i', { class: 'cell c2 written-now' }), 'written in the latest cycle'),
    el('span', { class: 'legend-item' }, el('i', { class: 'cell c2 written-recently' }), `in the last ${RECENT_CYCLES} cycles`))
  return el('div', null, map, legend)
}
