/**
 * The hex view of a program's memory: any range (address and length), shown a 4 KiB page at a time, read
 * through GET /api/programs/:id/memory. The dump is one <pre>'s textContent.
 */
import { get, query } from './api.js'
import { el, field, replace } from './dom.js'
import { formatAddress, hexDump, hexToBytes, num, parseAddress, parseCount } from './format.js'
import { errorBox, input, routeHash } from './ui.js'

export const HEX_PAGE_BYTES = 4096
/** The API reads at most one plane's worth at a time; the range itself may be longer, read page by page. */
const RANGE_MAX_BYTES = 1 << 24

export class HexView {
  readonly element: HTMLElement
  readonly #programId: string
  readonly #address = input('address', { placeholder: '(region, plane, offset), r:p:o, 0x… or decimal', size: 30 })
  readonly #length = input('length', { value: HEX_PAGE_BYTES, size: 8, inputmode: 'numeric' })
  readonly #caption = el('div', { class: 'hex-caption' })
  readonly #dump = el('pre', { class: 'hex', attrs: { 'aria-live': 'polite' } })
  readonly #problem = el('div')
  #range: { address: number; length: number } | null = null
  #page = 0
  #request = 0

  constructor(programId: string) {
    this.#programId = programId
    const form = el('form', { class: 'inline-form' }, field('address', this.#address), field('length (bytes)', this.#length),
      el('button', { attrs: { type: 'submit' } }, 'Show'))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const address = parseAddress(this.#address.value)
      const length = parseCount(this.#length.value, RANGE_MAX_BYTES)
      if (address === null) replace(this.#problem, errorBox(new Error('address: give (region, plane, offset), r:p:o, 0x hex or a decimal address')))
      else if (length === null) replace(this.#problem, errorBox(new Error(`length: a whole number of bytes, 1 to ${num(RANGE_MAX_BYTES)}`)))
      else this.show(address, length)
    })
    this.element = el('div', { class: 'hex-view' }, form, this.#problem, this.#caption, this.#dump)
  }

  show(address: number, length: number, page = 0): void {
    this.#range = { address, length }
    this.#address.value = formatAddress(address)
    this.#length.value = String(length)
    void this.#showPage(page)
  }

  async #showPage(page: number): Promise<void> {
    const range = this.#range
    if (!range) return
    const pages = Math.ceil(range.length / HEX_PAGE_BYTES)
    this.#page = Math.min(Math.max(0, page), pages - 1)
    const address = range.address + this.#page * HEX_PAGE_BYTES
    const length = Math.min(HEX_PAGE_BYTES, range.length - this.#page * HEX_PAGE_BYTES)
    const request = ++this.#request
    replace(this.#problem)
    try {
      const result = await get<{ address: number; length: number; hex: string }>(
        `/api/programs/${this.#programId}/memory` + query({ address, length }))
      if (request !== this.#request) return // a newer page was asked for meanwhile
      this.#dump.textContent = hexDump(result.address, hexToBytes(result.hex))
      this.#caption.dataset.address = String(address)
      const button = (label: string, target: number, enabled: boolean): HTMLButtonElement => {
        const b = el('button', { attrs: { type: 'button', disabled: !enabled } }, label)
        b.addEventListener('click', () => void this.#showPage(target))
        return b
      }
      replace(this.#caption,
        el('span', null, `${num(length)} bytes at ${formatAddress(address)} = ${address}`,
          pages > 1 ? ` · page ${this.#page + 1} of ${num(pages)} of the ${num(range.length)}-byte range` : ''),
        button('← previous 4 KiB', this.#page - 1, this.#page > 0), button('next 4 KiB →', this.#page + 1, this.#page < pages - 1),
        el('a', { class: 'button', attrs: { href: routeHash('verify', { program: this.#programId, address, length }) } }, 'Prove these bytes'))
    } catch (error) {
      if (request !== this.#request) return
      this.#dump.textContent = ''
      replace(this.#caption)
      replace(this.#problem, errorBox(error))
    }
  }
}
