/** #/cycles: the live timeline. Charts and a table of recent cycles, fed by the event stream. */
import { post, type CycleEntry } from './api.js'
import { TimelineChart, type ChartSpec } from './charts.js'
import { el, replace, row, table } from './dom.js'
import { num, shortId } from './format.js'
import { live } from './live.js'
import { errorBox, heading, type View } from './ui.js'

const TABLE_ROWS_MAX = 50

const CHARTS: readonly ChartSpec[] = [
  {
    title: 'Messages per cycle',
    series: [
      { label: 'processed', colour: '#2563eb', value: (c) => c.processed },
      { label: 'failed', colour: '#dc2626', value: (c) => c.failed },
    ],
  },
  {
    // Refunds (unused gas limits) dwarf the gas burned; they are not charted.
    title: 'Gas burned per cycle',
    series: [{ label: 'burned', colour: '#d97706', value: (c) => c.gasBurned }],
  },
  { title: 'Dirty planes per cycle', series: [{ label: 'planes written', colour: '#7c3aed', value: (c) => c.dirtyPlanes }] },
  {
    title: 'Time per cycle (ms) and queue',
    series: [
      { label: 'ms', colour: '#0891b2', value: (c) => c.ms },
      { label: 'queue after', colour: '#64748b', value: (c) => c.queueLength },
    ],
  },
]

function failures(entry: CycleEntry): HTMLElement {
  const names = Object.entries(entry.failures)
  if (names.length === 0) return el('span', { class: 'muted' }, entry.failed > 0 ? `${entry.failed} (not seen live)` : '—')
  return el('span', null, ...names.map(([name, count]) => el('span', { class: 'badge bad' }, `${name} ×${count}`)))
}

function cycleRow(entry: CycleEntry): HTMLTableRowElement {
  const tr = row(
    el('td', { class: 'num' }, String(entry.cycle)), shortId(entry.stateRoot), el('td', { class: 'num' }, num(entry.processed)),
    failures(entry), el('td', { class: 'num' }, num(entry.gasBurned)), el('td', { class: 'num' }, num(entry.enqueued)),
    el('td', { class: 'num' }, num(entry.mailboxed)), el('td', { class: 'num' }, num(entry.dirtyPlanes)),
    el('td', { class: 'num' }, entry.ms === null ? '—' : entry.ms.toFixed(1)), el('td', { class: 'num' }, num(entry.queueLength)),
  )
  tr.dataset.cycle = String(entry.cycle)
  return tr
}

const HEADERS = ['cycle', 'state root', 'processed', 'failures', 'gas burned', 'enqueued', 'mailboxed', 'dirty planes', 'ms', 'queue']

export const cyclesView: View = (root) => {
  const note = el('div', { class: 'action-result' })
  const runButton = el('button', { attrs: { type: 'button' } }, 'Run a cycle now')
  runButton.addEventListener('click', () => {
    runButton.disabled = true
    replace(note)
    post<CycleEntry>('/api/cycle', {}).then((entry) => {
      live.addCycle(entry)
      replace(note, el('span', { class: 'ok-text' }, `cycle ${entry.cycle} ran: ${entry.processed} messages`))
    }, (error: unknown) => replace(note, errorBox(error))).finally(() => { runButton.disabled = false })
  })
  const grid = el('div', { class: 'charts' })
  const tableHolder = el('div', { class: 'table-holder' })
  const status = el('p', { class: 'muted' }, 'loading…')
  replace(root, heading('Cycles', runButton), note, grid, el('h2', null, 'Recent cycles'), status, tableHolder)

  let charts: TimelineChart[] = []
  let body: HTMLTableSectionElement | null = null
  const redraw = (): void => {
    for (const chart of charts) chart.update(live.cycles)
    status.textContent = live.cycles.length === 0
      ? 'No cycle yet: send a message, then run a cycle.'
      : `${live.cycles.length} cycles, ${live.cycles[0]!.cycle} to ${live.cycles[live.cycles.length - 1]!.cycle}; new ones appear as they run.`
  }
  const start = (): void => {
    charts = CHARTS.map((spec) => new TimelineChart(spec, live.cycles))
    replace(grid, ...charts.map((c) => c.element))
    const recent = live.cycles.slice(-TABLE_ROWS_MAX).reverse()
    const tableElement = table(HEADERS, recent.map(cycleRow), 'no cycles yet')
    tableElement.classList.add('cycles')
    body = tableElement.tBodies[0] ?? null
    replace(tableHolder, tableElement)
    redraw()
  }
  let stopped = false
  live.loadHistory().then(() => { if (!stopped) start() }, (error: unknown) => replace(status, errorBox(error)))
  const unsubscribe = live.onCycle((entry) => {
    if (!body) return
    body.querySelector('tr.empty')?.remove()
    const tr = cycleRow(entry)
    tr.classList.add('fresh')
    body.insertBefore(tr, body.firstChild)
    while (body.rows.length > TABLE_ROWS_MAX) body.deleteRow(-1)
    redraw()
  })
  return () => {
    stopped = true
    unsubscribe()
    for (const chart of charts) chart.destroy()
  }
}
