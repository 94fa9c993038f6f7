/**
 * #/program/ID: one program. Its record and memory statistics, its memory map (live: planes a cycle writes
 * light up as the cycle arrives), per-region fragmentation, its allocations, and a hex view of any range.
 */
import { get, type ProgramDetail } from './api.js'
import { el, facts, replace, row, section, table } from './dom.js'
import { bytes, formatAddress, isId, num, percent, PLANE_SIZE_BYTES, shortId } from './format.js'
import { HexView } from './hex_view.js'
import { live } from './live.js'
import { memoryMap, planeCells } from './memory_map.js'
import { errorBox, heading, routeHash, type View } from './ui.js'

/** Allocations listed; the map and statistics cover all of them. */
const ALLOCATIONS_SHOWN_MAX = 500

function gasByClass(gas: Readonly<Record<string, number>>): HTMLElement {
  const charged = Object.entries(gas).filter(([, amount]) => amount !== 0)
  if (charged.length === 0) return el('span', { class: 'muted' }, 'none charged since the program was loaded')
  return el('span', null, ...charged.map(([name, amount]) => el('span', { class: 'chip' }, `${name} ${num(amount)}`)))
}

function record(detail: ProgramDetail): HTMLElement {
  const s = detail.stats
  return facts([
    ['id', el('code', { class: 'wrap' }, detail.id)],
    ['status', el('span', { class: `status ${detail.status}` }, detail.status)],
    ['code', el('code', { class: 'wrap' }, detail.codeId)],
    ['creator', el('code', { class: 'wrap' }, detail.creator)],
    ['memory root', el('code', { class: 'wrap' }, detail.memoryRoot)],
    ['state address', detail.stateAddress === null ? '—' : `${formatAddress(detail.stateAddress)} = ${detail.stateAddress}`],
    ['allocations', `${num(s.allocations)} (${bytes(s.liveBytes)} live)`],
    ['planes', `${num(s.planesInUse)} in use, ${num(s.planesMaterialized)} holding data, budget ${num(s.planesMax)}`],
    ['gas by class', gasByClass(s.gasByClass)],
  ])
}

/** A small bar; its width is set through CSSOM (element.style), which the page's CSP allows. */
function meter(fraction: number): HTMLElement {
  const fill = el('span', { class: 'meter-fill' })
  fill.style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`
  return el('span', { class: 'meter', attrs: { title: percent(fraction) } }, fill)
}

function regions(detail: ProgramDetail): HTMLElement {
  return table(['region', 'type', 'allocations', 'live bytes', 'planes in use', 'span', 'fragmentation'],
    detail.stats.regions.map((r) => row(String(r.region), r.type, el('td', { class: 'num' }, num(r.allocations)),
      el('td', { class: 'num' }, num(r.liveBytes)), el('td', { class: 'num' }, num(r.planesInUse)),
      el('td', { class: 'num' }, bytes(r.spanBytes)),
      el('td', { class: 'num' }, meter(r.fragmentation), ' ', percent(r.fragmentation)))), 'no regions')
}

export const programView: View = (root, route) => {
  const id = (route.path[1] ?? '').toLowerCase()
  if (!isId(id)) {
    replace(root, heading('Program'), errorBox(new Error('a program id is 64 hex digits: #/program/<id>')))
    return
  }
  const hex = new HexView(id)
  const recordHolder = el('div', null, el('p', { class: 'muted' }, 'loading…'))
  const mapHolder = el('div')
  const regionsHolder = el('div')
  const allocationsHolder = el('div', { class: 'scroll-holder' })
  replace(root,
    heading('Program', shortId(id, 16), el('a', { class: 'button', attrs: { href: routeHash('verify', { program: id }) } }, 'Prove…')),
    el('div', { class: 'two-columns' }, section('Record', recordHolder), section('Regions', regionsHolder)),
    section('Memory map', el('p', { class: 'muted' }, 'Regions in use, one cell per 64 KiB plane. Click a plane to see its bytes.'), mapHolder),
    el('div', { class: 'hex-and-allocations' }, section('Hex view', hex.element), section('Allocations', allocationsHolder)))

  // Planes written by cycles that arrive while the page is open, on top of the server's recentDirty.
  const written = new Map<number, number>()
  let detail: ProgramDetail | null = null
  const latestCycle = (): number => Math.max(live.status?.cycle ?? 0, live.cycles[live.cycles.length - 1]?.cycle ?? 0, ...written.values())

  const drawMap = (): void => {
    if (!detail) return
    replace(mapHolder, memoryMap(planeCells(detail, written), latestCycle(), (cell) => {
      hex.show(cell.key * PLANE_SIZE_BYTES, PLANE_SIZE_BYTES)
      hex.element.scrollIntoView({ block: 'nearest' })
    }))
  }

  let stopped = false
  let firstLoad = true
  const refresh = async (): Promise<void> => {
    try {
      const fresh = await get<ProgramDetail>(`/api/programs/${id}`)
      if (stopped) return
      detail = fresh
      for (const [key, cycle] of Object.entries(fresh.recentDirty)) {
        written.set(Number(key), Math.max(cycle, written.get(Number(key)) ?? 0))
      }
      replace(recordHolder, record(fresh))
      drawMap()
      replace(regionsHolder, regions(fresh))
      const shown = fresh.allocations.slice(0, ALLOCATIONS_SHOWN_MAX)
      const rows = shown.map((a) => {
        const link = el('button', { class: 'link', attrs: { type: 'button' } }, formatAddress(a.address))
        link.addEventListener('click', () => hex.show(a.address, a.size))
        const tr = row(link, el('td', { class: 'num' }, String(a.address)), el('td', { class: 'num' }, num(a.size)),
          el('a', { attrs: { href: routeHash('verify', { program: id, address: a.address, length: Math.min(a.size, 4096) }) } }, 'prove'))
        tr.dataset.address = String(a.address)
        return tr
      })
      const allocations = table(['address', 'packed', 'size', ''], rows, 'no live allocations')
      allocations.classList.add('allocations')
      replace(allocationsHolder, allocations,
        fresh.allocations.length > shown.length ? el('p', { class: 'note' }, `first ${num(shown.length)} of ${num(fresh.allocations.length)} shown`) : null)
      if (firstLoad) {
        firstLoad = false
        const start = fresh.stateAddress ?? fresh.allocations[0]?.address
        if (start !== undefined) hex.show(start - (start % 16), 256)
      }
    } catch (error) {
      if (!stopped) replace(recordHolder, errorBox(error))
    }
  }
  void refresh()
  const unsubscribe = live.onCycle((entry) => {
    const mine = entry.dirty.find((d) => d.programId === id)
    if (!mine) {
      drawMap() // the latest cycle moved on: rings age
      return
    }
    for (const key of mine.planes) written.set(key, entry.cycle)
    void refresh()
  })
  return () => {
    stopped = true
    unsubscribe()
  }
}
