/**
 * #/queue: what is waiting to run (the queue, the waitlist, delayed messages) and what just ran (recent
 * outcomes, with reply codes by name, logs and errors). #/mailbox/USER: what programs sent to a user.
 */
import { get, query, type MessageView, type Outcome } from './api.js'
import { el, field, replace, row, section, table } from './dom.js'
import { isId, num, payload, programLink, replyBadge, shortId } from './format.js'
import { live } from './live.js'
import { heading, input, load, routeHash, type View } from './ui.js'

const QUEUE_PAGE = 100
const OUTCOMES_SHOWN = 100
/** The runtime's DEFAULT_USER_ID: the user that sends when no source is given. */
export const DEFAULT_USER = '0'.repeat(63) + '1'

/**
 * A message's row. Queued messages go to programs and come from users or programs; a mailbox's come from
 * programs: only the side known to be a program links to a program page.
 */
function messageRow(m: MessageView, programSide: 'source' | 'destination'): HTMLTableRowElement {
  const source = programSide === 'source' ? programLink(m.source) : shortId(m.source)
  const destination = programSide === 'destination' ? programLink(m.destination) : shortId(m.destination)
  const tr = row(shortId(m.id), m.kind, source, destination, el('td', { class: 'num' }, num(m.gasLimit)),
    m.replyCode === undefined ? el('span', { class: 'muted' }, '—') : replyBadge(m.replyCode, m.replyCodeName),
    payload(m.payloadText, m.payloadHex, m.payloadLength))
  tr.dataset.message = m.id
  return tr
}

const MESSAGE_HEADERS = ['message', 'kind', 'from', 'to', 'gas limit', 'reply code', 'payload']

function outcomeRow(o: Outcome): HTMLTableRowElement {
  const logs = o.logs.length === 0 ? el('span', { class: 'muted' }, '—') : el('div', { class: 'logs' }, ...o.logs.map((line) => el('div', { class: 'log' }, line)))
  const tr = row(el('td', { class: 'num' }, String(o.cycle)), shortId(o.messageId), programLink(o.programId), o.kind,
    el('span', { class: `result-${o.result}` }, o.result), replyBadge(o.replyCode, o.replyCodeName),
    el('td', { class: 'num' }, num(o.gasBurned)), o.error === null ? el('span', { class: 'muted' }, '—') : el('span', { class: 'error-text' }, o.error),
    logs)
  tr.dataset.message = o.messageId
  return tr
}

export const queueView: View = (root, route) => {
  const offset = Math.max(0, Number.parseInt(route.params.get('offset') ?? '0', 10) || 0)
  const queueHolder = el('div')
  const waitHolder = el('div')
  const delayedHolder = el('div')
  const outcomesHolder = el('div')
  const mailboxUser = input('user', { value: DEFAULT_USER, size: 66, placeholder: '64 hex digits' })
  const mailboxForm = el('form', { class: 'inline-form' }, field('user', mailboxUser), el('button', { attrs: { type: 'submit' } }, 'Open mailbox'))
  mailboxForm.addEventListener('submit', (event) => {
    event.preventDefault()
    location.hash = `#/mailbox/${mailboxUser.value.trim().toLowerCase()}`
  })
  replace(root, heading('Queue and outcomes', mailboxForm),
    section('Queue', queueHolder), el('div', { class: 'two-columns' }, section('Waitlist', waitHolder), section('Delayed', delayedHolder)),
    section('Recent outcomes', outcomesHolder))

  const refresh = (): void => {
    void load(queueHolder, () => get<{ length: number; messages: MessageView[] }>('/api/queue' + query({ offset, limit: QUEUE_PAGE })), (q) => {
      const last = offset + q.messages.length
      const tableElement = table(MESSAGE_HEADERS, q.messages.map((m) => messageRow(m, 'destination')), 'the queue is empty')
      tableElement.classList.add('queue')
      return el('div', null,
        el('div', { class: 'pager' }, el('span', { attrs: { 'data-queue-length': q.length } },
          q.length === 0 ? 'empty' : `${num(offset + 1)}–${num(last)} of ${num(q.length)} queued`),
        offset > 0 ? el('a', { class: 'button', attrs: { href: routeHash('queue', { offset: Math.max(0, offset - QUEUE_PAGE) }) } }, '← previous') : null,
        last < q.length ? el('a', { class: 'button', attrs: { href: routeHash('queue', { offset: last }) } }, 'next →') : null),
        tableElement)
    })
    void load(waitHolder, () => get<{ entries: { message: MessageView; programId: string; untilCycle: number }[]; truncated?: boolean }>('/api/waitlist'),
      ({ entries, truncated }) => el('div', null,
        table(['message', 'program', 'until cycle', 'payload'], entries.map((e) => row(shortId(e.message.id), programLink(e.programId),
          el('td', { class: 'num' }, String(e.untilCycle)), payload(e.message.payloadText, e.message.payloadHex, e.message.payloadLength))),
        'nothing waits'),
        truncated ? el('p', { class: 'note' }, `the first ${num(entries.length)} entries`) : null))
    void load(delayedHolder, () => get<{ cycles: { cycle: number; messages: MessageView[] }[]; truncated?: boolean }>('/api/delayed'),
      ({ cycles, truncated }) => el('div', null,
        table(['due in cycle', 'message', 'to', 'payload'], cycles.flatMap((c) => c.messages.map((m) => row(el('td', { class: 'num' }, String(c.cycle)),
          shortId(m.id), programLink(m.destination), payload(m.payloadText, m.payloadHex, m.payloadLength)))), 'nothing is delayed'),
        truncated ? el('p', { class: 'note' }, 'the first 1,000 delayed messages') : null))
    void load(outcomesHolder, () => get<{ outcomes: Outcome[] }>(`/api/outcomes?limit=${OUTCOMES_SHOWN}`), ({ outcomes }) => {
      const tableElement = table(['cycle', 'message', 'program', 'kind', 'result', 'reply code', 'gas burned', 'error', 'logs'],
        outcomes.map(outcomeRow), 'no outcome seen since the server started')
      tableElement.classList.add('outcomes')
      return tableElement
    })
  }
  refresh()
  return live.onCycle(() => refresh())
}

export const mailboxView: View = (root, route) => {
  const user = (route.path[1] ?? DEFAULT_USER).toLowerCase()
  const holder = el('div')
  const userInput = input('user', { value: user, size: 66 })
  const form = el('form', { class: 'inline-form' }, field('user', userInput), el('button', { attrs: { type: 'submit' } }, 'Open'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    location.hash = `#/mailbox/${userInput.value.trim().toLowerCase()}`
  })
  replace(root, heading('Mailbox', form), holder)
  if (!isId(user)) {
    replace(holder, el('p', { class: 'error-text' }, 'a user id is 64 hex digits'))
    return
  }
  const refresh = (): void => {
    void load(holder, () => get<{ entries: { cycle: number; message: MessageView }[] }>(`/api/mailbox/${user}`), ({ entries }) => {
      const tableElement = table(['cycle', ...MESSAGE_HEADERS], [...entries].reverse().map((e) => {
        const tr = messageRow(e.message, 'source')
        tr.insertBefore(el('td', { class: 'num' }, String(e.cycle)), tr.firstChild)
        return tr
      }), 'the mailbox is empty')
      tableElement.classList.add('mailbox')
      return el('div', null, el('p', { class: 'muted' }, `${num(entries.length)} messages, newest first`), tableElement)
    })
  }
  refresh()
  return live.onCycle(() => refresh())
}
