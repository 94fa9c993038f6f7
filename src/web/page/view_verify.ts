/**
 * #/verify: prove a range of a program's memory (or that a plane is absent) and verify the proof here, in the
 * browser, with the same standalone verifier `strata verify` uses (src/merkle/verify.ts: SHA-256 from
 * @noble/hashes, nothing from Node). The root it checks against is the state root the server reported with the
 * proof, the current one, or any root pasted in; any proof JSON can be pasted and checked too.
 */
import { verifyProof } from '../../merkle/verify.js'
import type { VerifyResult } from '../../merkle/proof_types.js'
import { get, query, type ProofResponse, type Status } from './api.js'
import { el, facts, field, replace, section } from './dom.js'
import { formatAddress, hexDump, isId, num, parseAddress, parseCount, parseIndex } from './format.js'
import { live } from './live.js'
import { errorBox, input, onSubmit, type View } from './ui.js'

/** The verifier's cap on a proven range (PROOF_RANGE_MAX_BYTES, 1 MiB); the server refuses longer ones. */
const PROVE_LENGTH_MAX = 1_048_576
const DATA_SHOWN_MAX_BYTES = 4096

function verdict(result: VerifyResult, root: string, ms: number): HTMLElement {
  if (!result.ok) {
    return el('div', { class: 'verdict rejected', attrs: { role: 'status', 'data-verdict': 'rejected' } },
      el('div', { class: 'verdict-title' }, '✗ Rejected'), el('p', { class: 'reason' }, result.reason),
      el('p', { class: 'muted' }, `checked against state root ${root || '(none)'} in ${ms.toFixed(1)} ms`))
  }
  const common: [string, HTMLElement | string][] = [
    ['state root', el('code', { class: 'wrap' }, result.stateRoot)],
    ['program', el('code', { class: 'wrap' }, result.programId)],
    ['code', el('code', { class: 'wrap' }, result.codeId)],
    ['status byte', String(result.status)],
    ['memory root', el('code', { class: 'wrap' }, result.memoryRoot)],
  ]
  let what: HTMLElement
  if (result.kind === 'range') {
    const shown = result.data.subarray(0, DATA_SHOWN_MAX_BYTES)
    what = el('div', null,
      el('p', null, `${num(result.length)} bytes at ${formatAddress(result.address)} (= ${result.address}), inside the live allocation of ${num(result.allocation.size)} bytes at ${formatAddress(result.allocation.address)}:`),
      el('pre', { class: 'hex' }, hexDump(result.address, shown)),
      result.data.length > shown.length ? el('p', { class: 'note' }, `first ${num(shown.length)} bytes shown`) : null)
  } else {
    what = el('p', null, `Plane ${result.plane} of region ${result.region} (key ${result.planeKey}) is absent: every byte of it reads as zero.`)
  }
  return el('div', { class: 'verdict accepted', attrs: { role: 'status', 'data-verdict': 'accepted' } },
    el('div', { class: 'verdict-title' }, `✓ Accepted: ${result.kind === 'range' ? 'range proof' : 'absence proof'}`),
    what, facts(common), el('p', { class: 'muted' }, `verified in this browser in ${ms.toFixed(1)} ms`))
}

export const verifyView: View = (root, route) => {
  const params = route.params
  // ---- prove ----
  const program = input('program', { value: params.get('program') ?? '', size: 66, placeholder: 'program id (64 hex digits)' })
  const kindRange = el('input', { attrs: { type: 'radio', name: 'kind', value: 'range', checked: params.get('region') === null } })
  const kindAbsence = el('input', { attrs: { type: 'radio', name: 'kind', value: 'absence', checked: params.get('region') !== null } })
  const address = input('address', { value: params.get('address') ?? '', size: 24, placeholder: '(r, p, o), r:p:o, 0x… or decimal' })
  const length = input('length', { value: params.get('length') ?? '16', size: 8, inputmode: 'numeric' })
  const region = input('region', { value: params.get('region') ?? '', size: 5, inputmode: 'numeric' })
  const plane = input('plane', { value: params.get('plane') ?? '', size: 7, inputmode: 'numeric' })
  const rangeFields = el('div', { class: 'inline-fields' }, field('address', address), field('length', length))
  const absenceFields = el('div', { class: 'inline-fields' }, field('region', region), field('plane', plane))
  const syncKind = (): void => {
    rangeFields.hidden = !kindRange.checked
    absenceFields.hidden = kindRange.checked
  }
  kindRange.addEventListener('change', syncKind)
  kindAbsence.addEventListener('change', syncKind)
  syncKind()
  const proveProblem = el('div')
  const proveForm = el('form', { class: 'stacked', attrs: { 'data-form': 'prove' } }, field('program', program),
    el('div', { class: 'row-of' }, el('label', { class: 'check' }, kindRange, ' a range of bytes'),
      el('label', { class: 'check' }, kindAbsence, ' an absent plane')),
    rangeFields, absenceFields, el('button', { attrs: { type: 'submit' } }, 'Prove and verify'))

  // ---- verify ----
  const rootInput = input('root', { size: 66, placeholder: 'state root (64 hex digits)' })
  const currentRoot = el('button', { attrs: { type: 'button' } }, 'Use the current state root')
  const proofText = el('textarea', { attrs: { name: 'proof', rows: 12, spellcheck: 'false', placeholder: 'paste a proof (JSON), e.g. from `strata prove`' } })
  const result = el('div', { class: 'verdict-holder' }, el('p', { class: 'muted' }, 'Nothing verified yet.'))
  const verifyForm = el('form', { class: 'stacked', attrs: { 'data-form': 'verify' } },
    el('div', { class: 'row-of' }, field('state root', rootInput), currentRoot), field('proof JSON', proofText),
    el('button', { attrs: { type: 'submit' } }, 'Verify in this browser'))

  const verify = (): void => {
    const rootHex = rootInput.value.trim().toLowerCase()
    const started = performance.now()
    const outcome = verifyProof(rootHex, proofText.value)
    replace(result, verdict(outcome, rootHex, performance.now() - started))
  }
  verifyForm.addEventListener('submit', (event) => {
    event.preventDefault()
    verify()
  })
  currentRoot.addEventListener('click', () => {
    get<Status>('/api/status').then((status) => {
      rootInput.value = status.stateRoot
    }, (error: unknown) => replace(result, errorBox(error)))
  })
  if (live.status) rootInput.value = live.status.stateRoot

  onSubmit(proveForm, async () => {
    replace(proveProblem)
    const id = program.value.trim().toLowerCase()
    let path: string
    if (!isId(id)) {
      replace(proveProblem, errorBox(new Error('program: a program id is 64 hex digits')))
      return
    }
    if (kindRange.checked) {
      const at = parseAddress(address.value)
      const count = parseCount(length.value, PROVE_LENGTH_MAX)
      if (at === null || count === null) {
        replace(proveProblem, errorBox(new Error(at === null ? 'address: (region, plane, offset), r:p:o, 0x hex or decimal' : `length: 1 to ${num(PROVE_LENGTH_MAX)} bytes`)))
        return
      }
      path = `/api/programs/${id}/proof` + query({ address: at, length: count })
    } else {
      const r = parseIndex(region.value, 255)
      const p = parseIndex(plane.value, 65_535)
      if (r === null || p === null) {
        replace(proveProblem, errorBox(new Error('region: 0 to 255; plane: 0 to 65,535')))
        return
      }
      path = `/api/programs/${id}/absence` + query({ region: r, plane: p })
    }
    try {
      const response = await get<ProofResponse>(path)
      rootInput.value = response.stateRoot
      proofText.value = JSON.stringify(response.proof, null, 2)
      verify()
    } catch (error) {
      replace(proveProblem, errorBox(error))
    }
  })

  replace(root, el('div', { class: 'view-head' }, el('h1', null, 'Prove and verify')),
    el('div', { class: 'two-columns' },
      el('div', null,
        section('Prove', el('p', { class: 'muted' }, 'Ask the server for a proof: it lands in the proof field and is verified here, in the browser.'), proveForm, proveProblem),
        section('Result', result)),
      section('Verify', el('p', { class: 'muted' }, 'Checks the proof against the root with SHA-256 in this page: nothing is sent to the server.'), verifyForm)))
}
