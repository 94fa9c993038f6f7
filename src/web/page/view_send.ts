/**
 * #/send: send a message (POST /api/send, enqueued for the next cycle) or query a program (POST /api/query,
 * runs `handle` read-only and returns the reply). Both need the token; without one the server answers 401,
 * and the page says so.
 */
import { post, setToken, token, type QueryReply } from './api.js'
import { el, facts, field, replace, section } from './dom.js'
import { isId, num, payload, replyBadge } from './format.js'
import { live } from './live.js'
import { DEFAULT_USER } from './view_queue.js'
import { errorBox, input, onSubmit, type View } from './ui.js'

const GAS_DEFAULT = 10_000_000
const HEX = /^([0-9a-f]{2})*$/

interface PayloadFields {
  readonly text: HTMLTextAreaElement
  readonly asHex: HTMLInputElement
}

function payloadFields(): PayloadFields & { element: HTMLElement } {
  const text = el('textarea', { attrs: { name: 'payload', rows: 3, spellcheck: 'false', placeholder: 'text, or hex bytes with "hex" ticked' } })
  const asHex = el('input', { attrs: { type: 'checkbox', name: 'hex' } })
  return { text, asHex, element: el('div', null, field('payload', text), el('label', { class: 'check' }, asHex, ' payload is hex')) }
}

/** `{ payloadText }` or `{ payloadHex }`, or an error message. */
function payloadBody(fields: PayloadFields): { payloadText: string } | { payloadHex: string } | string {
  if (!fields.asHex.checked) return { payloadText: fields.text.value }
  const hex = fields.text.value.trim().toLowerCase().replace(/^0x/, '').replace(/\s+/g, '')
  return HEX.test(hex) ? { payloadHex: hex } : 'payload: hex bytes are pairs of 0-9 / a-f digits'
}

function gasValue(inputElement: HTMLInputElement): number | string {
  const text = inputElement.value.trim().replace(/[_,]/g, '')
  return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : 'gas limit: a whole number'
}

function tokenPanel(): HTMLElement {
  const state = el('p')
  const pasted = input('token', { placeholder: 'the token strata serve printed', size: 34, type: 'password' })
  const draw = (): void => {
    replace(state, token() === null
      ? el('span', { class: 'error-text' }, 'No token: sending and querying will be refused (401). Open the address `strata serve` printed, or paste its token here.')
      : el('span', { class: 'ok-text' }, 'This tab holds a token (kept in sessionStorage, gone when the tab closes).'))
  }
  const form = el('form', { class: 'inline-form' }, field('token', pasted), el('button', { attrs: { type: 'submit' } }, 'Use'))
  const forget = el('button', { attrs: { type: 'button' } }, 'Forget token')
  forget.addEventListener('click', () => {
    setToken(null)
    draw()
  })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const value = pasted.value.trim()
    if (/^[\x21-\x7e]{16,256}$/.test(value)) {
      setToken(value)
      pasted.value = ''
    }
    draw()
  })
  draw()
  return section('Token', state, el('div', { class: 'row-of' }, form, forget))
}

function sendPanel(initial: string): HTMLElement {
  const destination = input('destination', { value: initial, size: 66, placeholder: 'program id (64 hex digits)' })
  const fields = payloadFields()
  const gas = input('gas', { value: String(GAS_DEFAULT), size: 14, inputmode: 'numeric' })
  const source = input('source', { size: 66, placeholder: `default ${DEFAULT_USER.slice(0, 6)}…01` })
  const result = el('div', { class: 'result-box', attrs: { 'data-form': 'send' } })
  const form = el('form', { class: 'stacked', attrs: { 'data-form': 'send' } }, field('to', destination), fields.element, field('gas limit', gas),
    field('from (optional)', source), el('button', { attrs: { type: 'submit' } }, 'Send'))
  onSubmit(form, async () => {
    replace(result)
    const body = payloadBody(fields)
    const gasLimit = gasValue(gas)
    const to = destination.value.trim().toLowerCase()
    const from = source.value.trim().toLowerCase()
    const problem = !isId(to) ? 'to: a program id is 64 hex digits' : typeof body === 'string' ? body
      : typeof gasLimit === 'string' ? gasLimit : from !== '' && !isId(from) ? 'from: a user id is 64 hex digits' : null
    if (problem !== null || typeof body === 'string' || typeof gasLimit === 'string') {
      replace(result, errorBox(new Error(problem ?? 'invalid input')))
      return
    }
    try {
      const { messageId } = await post<{ messageId: string }>('/api/send', { destination: to, ...body, gasLimit, ...(from ? { source: from } : {}) })
      live.refreshStatus()
      replace(result, el('div', { class: 'queued', attrs: { role: 'status' } }, el('strong', null, 'Queued'), ' message ',
        el('code', { attrs: { 'data-message-id': messageId } }, messageId), ' runs in the next cycle. ',
        el('a', { attrs: { href: '#/queue' } }, 'See the queue')))
    } catch (error) {
      replace(result, errorBox(error))
    }
  })
  return section('Send a message', form, result)
}

function queryPanel(initial: string): HTMLElement {
  const program = input('program', { value: initial, size: 66, placeholder: 'program id (64 hex digits)' })
  const fields = payloadFields()
  const gas = input('gas', { value: String(GAS_DEFAULT), size: 14, inputmode: 'numeric' })
  const result = el('div', { class: 'result-box', attrs: { 'data-form': 'query' } })
  const form = el('form', { class: 'stacked', attrs: { 'data-form': 'query' } }, field('program', program), fields.element, field('gas limit', gas),
    el('button', { attrs: { type: 'submit' } }, 'Query'))
  onSubmit(form, async () => {
    replace(result)
    const body = payloadBody(fields)
    const gasLimit = gasValue(gas)
    const id = program.value.trim().toLowerCase()
    if (!isId(id) || typeof body === 'string' || typeof gasLimit === 'string') {
      replace(result, errorBox(new Error(!isId(id) ? 'program: a program id is 64 hex digits' : typeof body === 'string' ? body : String(gasLimit))))
      return
    }
    try {
      const reply = await post<QueryReply>('/api/query', { programId: id, ...body, gasLimit })
      replace(result, el('div', { class: 'query-reply' }, facts([
        ['reply code', replyBadge(reply.replyCode, reply.replyCodeName)],
        ['reply', el('div', { class: 'reply-payload' }, payload(reply.payloadText, reply.payloadHex, reply.payloadLength))],
        ['gas burned', num(reply.gasBurned)],
        ['error', reply.error === null ? el('span', { class: 'muted' }, '—') : el('span', { class: 'error-text' }, reply.error)],
        ['logs', reply.logs.length === 0 ? el('span', { class: 'muted' }, '—') : el('div', { class: 'logs' }, ...reply.logs.map((line) => el('div', { class: 'log' }, line)))],
      ])))
    } catch (error) {
      replace(result, errorBox(error))
    }
  })
  return section('Query a program (read-only)', form, result)
}

export const sendView: View = (root, route) => {
  const to = route.params.get('to') ?? ''
  replace(root, el('div', { class: 'view-head' }, el('h1', null, 'Send and query')), tokenPanel(),
    el('div', { class: 'two-columns' }, sendPanel(to), queryPanel(to)))
}
