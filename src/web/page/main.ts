/**
 * The inspector page's entry: takes the token out of the address, opens the live connection, draws the header
 * and routes `#/...` to the views. It only wires things together; each view lives in its own file.
 */
import { adoptTokenFromHash, token, type Status } from './api.js'
import { el, replace } from './dom.js'
import { num, shortId } from './format.js'
import { live } from './live.js'
import { parseRoute, type View } from './ui.js'
import { cyclesView } from './view_cycles.js'
import { programView } from './view_program.js'
import { programsView } from './view_programs.js'
import { mailboxView, queueView } from './view_queue.js'
import { sendView } from './view_send.js'
import { verifyView } from './view_verify.js'

const VIEWS: Readonly<Record<string, View>> = {
  cycles: cyclesView,
  programs: programsView,
  program: programView,
  queue: queueView,
  mailbox: mailboxView,
  send: sendView,
  verify: verifyView,
}

const NAV: readonly (readonly [string, string, readonly string[]])[] = [
  ['Cycles', '#/cycles', ['cycles']],
  ['Programs', '#/programs', ['programs', 'program']],
  ['Queue', '#/queue', ['queue', 'mailbox']],
  ['Send', '#/send', ['send']],
  ['Verify', '#/verify', ['verify']],
]

function statusLine(target: HTMLElement, status: Status | null, connected: boolean): void {
  const dot = el('span', { class: connected ? 'live-dot on' : 'live-dot', attrs: { title: connected ? 'live: connected to /api/events' : 'not connected; retrying' } })
  if (!status) {
    replace(target, dot, connected ? 'connected' : 'connecting…')
    return
  }
  const item = (label: string, value: Node | string): HTMLElement => el('span', { class: 'stat' }, el('small', null, label), value)
  replace(target, dot,
    item('cycle', el('strong', { attrs: { 'data-status-cycle': status.cycle } }, num(status.cycle))),
    item('root', shortId(status.stateRoot, 10)),
    item('queue', num(status.queueLength)), item('waiting', num(status.waiting)), item('delayed', num(status.delayed)),
    item('programs', num(status.programCount)), item('streams', num(status.streams)),
    item('cycles', status.intervalMs === 0 ? 'on demand' : `every ${num(status.intervalMs)} ms${status.idle ? ' (idle)' : ''}`),
    item('token', token() === null ? el('a', { class: 'error-text', attrs: { href: '#/send' } }, 'none') : 'held'),
    status.fault === null ? null : el('span', { class: 'badge bad', attrs: { role: 'alert' } }, `FAULTED: ${status.fault}`))
}

function start(): void {
  adoptTokenFromHash()
  const nav = el('nav')
  const statusBar = el('div', { class: 'status-line' })
  const main = el('main')
  replace(document.body,
    el('header', null, el('div', { class: 'brand' }, el('span', { class: 'logo' }, '▦'), 'Strata inspector'), nav, statusBar),
    main)

  const drawStatus = (): void => statusLine(statusBar, live.status, live.connected)
  live.onStatus(drawStatus)
  live.onConnection(drawStatus)
  live.start()
  drawStatus()

  let cleanup: (() => void) | void
  const route = (): void => {
    adoptTokenFromHash()
    const current = parseRoute(location.hash)
    const name = current.path[0] ?? 'cycles'
    replace(nav, ...NAV.map(([label, href, names]) => el('a', { class: names.includes(name) ? 'active' : '', attrs: { href } }, label)))
    if (cleanup) cleanup()
    cleanup = undefined
    const view = VIEWS[name]
    main.dataset.view = view ? name : 'unknown'
    replace(main)
    if (!view) {
      replace(main, el('h1', null, 'Not found'), el('p', null, 'No view is called ', el('code', null, name), '. ', el('a', { attrs: { href: '#/cycles' } }, 'Go to the cycles.')))
      return
    }
    cleanup = view(main, current)
    window.scrollTo(0, 0)
    live.refreshStatus()
  }
  window.addEventListener('hashchange', route)
  route()
}

start()
