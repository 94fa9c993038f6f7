/** #/programs: search programs by id prefix, status, code prefix and memory-root prefix, a page at a time. */
import { get, query, type ProgramSummary } from './api.js'
import { el, field, replace, row, table } from './dom.js'
import { formatAddress, num, programLink, shortId } from './format.js'
import { heading, input, load, routeHash, type View } from './ui.js'

const PAGE_SIZE = 50
const STATUSES = ['', 'initializing', 'active', 'exited', 'init_failed']
const HEX_PREFIX = /^[0-9a-f]{0,64}$/

export const programsView: View = (root, route) => {
  const params = route.params
  const value = (name: string): string => params.get(name) ?? ''
  const offset = Math.max(0, Number.parseInt(value('offset') || '0', 10) || 0)

  const prefix = input('prefix', { value: value('prefix'), placeholder: 'hex', size: 16 })
  const code = input('code', { value: value('code'), placeholder: 'hex', size: 16 })
  const memoryRoot = input('root', { value: value('root'), placeholder: 'hex', size: 16 })
  const status = el('select', { attrs: { name: 'status' } },
    ...STATUSES.map((s) => el('option', { attrs: { value: s, selected: s === value('status') } }, s || 'any'))) as HTMLSelectElement
  const problem = el('p', { class: 'error-text' })
  const form = el('form', { class: 'search' },
    field('id prefix', prefix), field('status', status), field('code prefix', code), field('memory root prefix', memoryRoot),
    el('button', { attrs: { type: 'submit' } }, 'Search'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const fields = { prefix: prefix.value.trim().toLowerCase(), code: code.value.trim().toLowerCase(), root: memoryRoot.value.trim().toLowerCase() }
    const bad = Object.entries(fields).find(([, v]) => !HEX_PREFIX.test(v))
    if (bad) {
      problem.textContent = `${bad[0]} must be hex digits (0-9, a-f)`
      return
    }
    location.hash = routeHash('programs', { ...fields, status: status.value })
  })

  const results = el('div')
  replace(root, heading('Programs'), form, problem, results)
  const filters = { prefix: value('prefix'), status: value('status'), code: value('code'), root: value('root') }
  void load(results, () => get<{ total: number; truncated?: boolean; programs: ProgramSummary[] }>(
    '/api/programs' + query({ ...filters, offset, limit: PAGE_SIZE })), (page) => {
    const rows = page.programs.map((p) => row(programLink(p.id, 16), el('span', { class: `status ${p.status}` }, p.status),
      shortId(p.codeId), shortId(p.memoryRoot), shortId(p.creator), p.stateAddress === null ? '—' : formatAddress(p.stateAddress)))
    const last = offset + page.programs.length
    const pager = el('div', { class: 'pager' },
      el('span', null, page.total === 0 ? 'no program matches' : `${num(offset + 1)}–${num(last)} of ${num(page.total)}`,
        page.truncated ? ' (scan stopped at 100,000 programs)' : ''),
      offset > 0 ? el('a', { class: 'button', attrs: { href: routeHash('programs', { ...filters, offset: Math.max(0, offset - PAGE_SIZE) }) } }, '← previous') : null,
      last < page.total ? el('a', { class: 'button', attrs: { href: routeHash('programs', { ...filters, offset: last }) } }, 'next →') : null)
    const tableElement = table(['id', 'status', 'code', 'memory root', 'creator', 'state address'], rows, 'no program matches')
    tableElement.classList.add('programs')
    return el('div', { class: 'panel' }, pager, tableElement)
  })
}
