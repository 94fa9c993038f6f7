/**
 * The page's only way to make elements. Text always enters the document as text nodes (`createTextNode`) and
 * attributes through `setAttribute`, never as markup: ids, logs, payloads and error messages come from programs
 * and users, and none of them may become HTML. There is no innerHTML anywhere in the inspector.
 */

export type Child = Node | string | number | null | undefined | false

export interface Props {
  readonly class?: string
  /** Plain attributes (title, href, type, value, placeholder, data-*, aria-*, ...). */
  readonly attrs?: Readonly<Record<string, string | number | boolean | null | undefined>>
  readonly on?: { readonly [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void }
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, props: Props | null = null, ...children: readonly Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (props?.class) node.className = props.class
  for (const [name, value] of Object.entries(props?.attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue
    node.setAttribute(name, value === true ? '' : String(value))
  }
  for (const [type, listener] of Object.entries(props?.on ?? {})) {
    node.addEventListener(type, listener as EventListener)
  }
  append(node, ...children)
  return node
}

export function append(parent: Node, ...children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: readonly Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild)
  append(parent, ...children)
}

/** A definition list from label/value pairs. */
export function facts(pairs: readonly (readonly [string, Child])[]): HTMLDListElement {
  const list = el('dl', { class: 'facts' })
  for (const [label, value] of pairs) append(list, el('dt', null, label), el('dd', null, value))
  return list
}

export function table(headers: readonly string[], rows: readonly HTMLTableRowElement[], empty = 'none'): HTMLTableElement {
  const body = el('tbody')
  if (rows.length === 0) append(body, el('tr', { class: 'empty' }, el('td', { attrs: { colspan: headers.length } }, empty)))
  else append(body, ...rows)
  return el('table', null, el('thead', null, el('tr', null, ...headers.map((h) => el('th', null, h)))), body)
}

export function row(...cells: readonly Child[]): HTMLTableRowElement {
  return el('tr', null, ...cells.map((cell) => (cell instanceof HTMLTableCellElement ? cell : el('td', null, cell))))
}

export function section(title: string, ...children: readonly Child[]): HTMLElement {
  return el('section', { class: 'panel', attrs: { 'data-section': title } }, el('h2', null, title), ...children)
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLLabelElement {
  return el('label', { class: 'field' }, el('span', null, label), input, hint ? el('small', null, hint) : null)
}
