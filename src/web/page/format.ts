/** Numbers, ids, addresses and bytes as the page shows them, and the address syntax its forms accept. */
import { PLANE_SIZE_BYTES, PLANES_PER_REGION_MAX, REGION_SIZE_BYTES, ADDRESS_LIMIT } from '../../constants.js'
import { el } from './dom.js'

export { PLANE_SIZE_BYTES, REGION_SIZE_BYTES }

const integerFormat = new Intl.NumberFormat('en-US')

export function num(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : integerFormat.format(value)
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`
  return `${(count / 1024 / 1024).toFixed(1)} MiB`
}

export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction > 0 && fraction < 0.01 ? 2 : 0)}%`
}

/** An id shortened to its first 8 digits, the full id in the tooltip. */
export function shortId(id: string, length = 8): HTMLElement {
  return el('span', { class: 'id', attrs: { title: id } }, id.length > length ? id.slice(0, length) + '…' : id)
}

export function isId(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value)
}

/** A link to a program's page. Ids are checked first: nothing else becomes part of an href. */
export function programLink(id: string, length = 8): HTMLElement {
  if (!isId(id)) return shortId(id, length)
  return el('a', { class: 'id', attrs: { href: `#/program/${id}`, title: id } }, id.slice(0, length) + '…')
}

export interface AddressParts {
  readonly region: number
  readonly plane: number
  readonly offset: number
}

export function splitAddress(address: number): AddressParts {
  return {
    region: Math.floor(address / REGION_SIZE_BYTES),
    plane: Math.floor(address / PLANE_SIZE_BYTES) % PLANES_PER_REGION_MAX,
    offset: address % PLANE_SIZE_BYTES,
  }
}

export function packAddress(region: number, plane: number, offset: number): number {
  return region * REGION_SIZE_BYTES + plane * PLANE_SIZE_BYTES + offset
}

/** "(region, plane, offset)", as `strata inspect` prints addresses. */
export function formatAddress(address: number): string {
  const { region, plane, offset } = splitAddress(address)
  return `(${region}, ${plane}, ${offset})`
}

export function planeKeyParts(key: number): { readonly region: number; readonly plane: number } {
  return { region: Math.floor(key / PLANES_PER_REGION_MAX), plane: key % PLANES_PER_REGION_MAX }
}

/**
 * Reads an address as the CLI does: a decimal integer, `0x` hex, `region:plane:offset` or
 * `(region, plane, offset)`. Returns null for anything else or an address out of range.
 */
export function parseAddress(text: string): number | null {
  const value = text.trim()
  let address: number
  if (/^\d+$/.test(value)) address = Number(value)
  else if (/^0x[0-9a-f]+$/i.test(value)) address = Number.parseInt(value.slice(2), 16)
  else {
    const parts = /^\(?\s*(\d+)\s*[:,]\s*(\d+)\s*[:,]\s*(\d+)\s*\)?$/.exec(value)
    if (!parts) return null
    const [region, plane, offset] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
    if (region >= 256 || plane >= PLANES_PER_REGION_MAX || offset >= PLANE_SIZE_BYTES) return null
    address = packAddress(region, plane, offset)
  }
  return Number.isSafeInteger(address) && address < ADDRESS_LIMIT ? address : null
}

/** A positive decimal integer from a form field, or null. */
export function parseCount(text: string, max: number): number | null {
  const value = text.trim()
  if (!/^\d+$/.test(value)) return null
  const count = Number(value)
  return count >= 1 && count <= max ? count : null
}

/** A whole number 0..max from a form field, or null. */
export function parseIndex(text: string, max: number): number | null {
  const value = text.trim()
  if (!/^\d+$/.test(value)) return null
  const index = Number(value)
  return index <= max ? index : null
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1)
  for (let i = 0; i < out.length; i += 1) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function bytesToHex(data: Uint8Array): string {
  let out = ''
  for (const byte of data) out += byte.toString(16).padStart(2, '0')
  return out
}

const HEX_LINE_BYTES = 16

/**
 * A classic hex dump: one line per 16 bytes, the line's address as (region, plane, offset) in hex, the bytes,
 * and their printable ASCII. Plain text, for a <pre>'s textContent.
 */
export function hexDump(address: number, data: Uint8Array): string {
  const lines: string[] = []
  for (let start = 0; start < data.length; start += HEX_LINE_BYTES) {
    const { region, plane, offset } = splitAddress(address + start)
    const chunk = data.subarray(start, start + HEX_LINE_BYTES)
    let hex = ''
    let ascii = ''
    for (let i = 0; i < HEX_LINE_BYTES; i += 1) {
      const byte = chunk[i]
      hex += byte === undefined ? '   ' : byte.toString(16).padStart(2, '0') + ' '
      if (i === 7) hex += ' '
      if (byte !== undefined) ascii += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.'
    }
    const where = `${region.toString(16).padStart(2, '0')}:${plane.toString(16).padStart(4, '0')}:${offset.toString(16).padStart(4, '0')}`
    lines.push(`${where}  ${hex} ${ascii}`)
  }
  return lines.join('\n')
}

/** A message payload: its text when it is text, else its hex; with its length. */
export function payload(text: string | null, hex: string, length: number): HTMLElement {
  const shown = text ?? hex
  const cut = text === null ? length > hex.length / 2 : length > new TextEncoder().encode(text).length
  return el('span', { class: text === null ? 'payload hex' : 'payload' },
    shown === '' ? el('em', null, 'empty') : shown, cut ? el('small', null, ` … (${num(length)} bytes)`) : null)
}

/** A reply code as a coloured badge: successes (< 0x10) green, errors red. */
export function replyBadge(code: number | null | undefined, name: string | null | undefined): HTMLElement {
  if (code === null || code === undefined) return el('span', { class: 'muted' }, '—')
  const hex = '0x' + code.toString(16).padStart(2, '0')
  return el('span', { class: code < 0x10 ? 'badge ok' : 'badge bad', attrs: { title: hex } }, name ?? hex)
}
