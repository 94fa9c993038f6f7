/** Pieces shared by the views: routes, error boxes, buttons that show they are working. */
import { ApiError, token } from './api.js'
import { el, replace, type Child } from './dom.js'

export interface Route {
  /** The hash's path, split: `#/program/ID` -> ['program', 'ID']. */
  readonly path: readonly string[]
  readonly params: URLSearchParams
}

/** A view draws itself into `root` and returns what to undo when the page moves elsewhere. */
export type View = (root: HTMLElement, route: Route) => (() => void) | void

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, '')
  const mark = text.indexOf('?')
  const pathText = mark === -1 ? text : text.slice(0, mark)
  const path = pathText.split('/').filter((part) => part !== '').map((part) => {
    try {
      return decodeURIComponent(part)
    } catch {
      return part
    }
  })
  return { path, params: new URLSearchParams(mark === -1 ? '' : text.slice(mark + 1)) }
}

/** The hash for a view with parameters (only those that are set). */
export function routeHash(path: string, params: Readonly<Record<string, string | number | null | undefined>> = {}): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, String(value))
  }
  const text = search.toString()
  return `#/${path}${text ? '?' + text : ''}`
}

/** An error as the page shows it: status, code and message, and for 401 how to get a token. */
export function errorBox(error: unknown): HTMLElement {
  if (error instanceof ApiError) {
    const hint = error.status === 401
      ? (token() === null
        ? 'This page has no token. Open the address `strata serve` printed (it ends in #token=…), or paste the token on the Send page.'
        : 'The token this page holds was refused: paste the one `strata serve` printed on the Send page.')
      : null
    return el('div', { class: 'error', attrs: { role: 'alert', 'data-status': error.status, 'data-code': error.code } },
      el('strong', null, error.status ? `${error.status} ${error.code}` : error.code), ': ', error.message,
      hint ? el('p', { class: 'hint' }, hint) : null)
  }
  const message = error instanceof Error ? error.message : String(error)
  return el('div', { class: 'error', attrs: { role: 'alert' } }, el('strong', null, 'error'), ': ', message)
}

/**
 * Shows a loading note in an empty `target` (a refresh keeps the old content meanwhile, so live views do not
 * flicker), then whatever `render` makes of the result, or the error.
 */
export async function load<T>(target: HTMLElement, fetcher: () => Promise<T>, render: (value: T) => Child): Promise<T | null> {
  if (!target.firstChild) replace(target, el('p', { class: 'muted' }, 'loading…'))
  try {
    const value = await fetcher()
    replace(target, render(value))
    return value
  } catch (error) {
    replace(target, errorBox(error))
    return null
  }
}

/** Runs `action` on submit, disabling the form's buttons meanwhile; the form never navigates. */
export function onSubmit(form: HTMLFormElement, action: () => Promise<void>): void {
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const buttons = [...form.querySelectorAll('button')]
    for (const button of buttons) button.disabled = true
    action().finally(() => {
      for (const button of buttons) button.disabled = false
    })
  })
}

export function input(name: string, attrs: Readonly<Record<string, string | number | boolean>> = {}): HTMLInputElement {
  return el('input', { attrs: { name, autocomplete: 'off', spellcheck: 'false', ...attrs } })
}

export function heading(title: string, ...extra: readonly Child[]): HTMLElement {
  return el('div', { class: 'view-head' }, el('h1', null, title), ...extra)
}
