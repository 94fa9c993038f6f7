/**
 * The inspector page in a real browser: Chromium (Debian's, at /usr/bin/chromium) through playwright-core,
 * against `strata serve` on a demo data directory (cycles on demand only, so the state holds still between
 * steps). Every page listens for Content-Security-Policy violations and script errors, and each test ends by
 * asserting there were none: the page must work under the server's strict policy.
 *
 * Without Chromium the suite is skipped under a name that says so, unless STRATA_REQUIRE_BROWSER=1 (as in
 * .ci/run), which makes its absence a failure.
 */
import { existsSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, MARKUP, launchChromium, startDemoInspector, type DemoInspector } from './inspector_fixture.mjs'

const HAVE_CHROMIUM = existsSync(CHROMIUM_PATH)
const REQUIRED = process.env.STRATA_REQUIRE_BROWSER === '1'
const RUN = HAVE_CHROMIUM || REQUIRED
const TITLE = RUN
  ? 'the web inspector in Chromium'
  : `skipped: Chromium not found at ${CHROMIUM_PATH} (.ci/run installs Debian's chromium)`

interface Problems {
  readonly csp: string[]
  readonly errors: string[]
}

let server: DemoInspector
let browser: Browser

async function api<T>(path: string, body?: unknown, token: string | null = server.token): Promise<{ status: number; json: T }> {
  const init: RequestInit = body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  }
  const response = await fetch(server.origin + path, init)
  return { status: response.status, json: (await response.json()) as T }
}

/** A fresh context (so a fresh sessionStorage) and page that record CSP violations and script errors. */
async function openPage(): Promise<{ context: BrowserContext; page: Page; problems: Problems }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const problems: Problems = { csp: [], errors: [] }
  await context.exposeFunction('__reportCsp', (text: string) => { problems.csp.push(text) })
  // Runs in the page before its own scripts (this file is compiled without the DOM library: a string).
  await context.addInitScript(`document.addEventListener('securitypolicyviolation', (event) => {
    window.__reportCsp(event.violatedDirective + ' blocked ' + event.blockedURI + ' (' + event.sample + ')')
  })`)
  const page = await context.newPage()
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.csp.push(message.text())
  })
  page.on('pageerror', (error) => problems.errors.push(error.message))
  return { context, page, problems }
}

async function expectClean(page: Page, problems: Problems): Promise<void> {
  expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined()
  expect(problems.csp).toEqual([])
  expect(problems.errors).toEqual([])
}

/** The markup program's allocation that holds the markup, and how many allocations share its plane. */
async function markupAllocation(): Promise<{ address: number; size: number; planeAllocations: number }> {
  const { json } = await api<{ allocations: { address: number; size: number }[] }>(`/api/programs/${server.markupId}`)
  const allocation = json.allocations.find((a) => a.size === MARKUP.length)
  if (!allocation) throw new Error('the markup program has no allocation of the markup length')
  const plane = (address: number): number => Math.floor(address / 65_536)
  const planeAllocations = json.allocations.filter((a) => plane(a.address) === plane(allocation.address)).length
  return { ...allocation, planeAllocations }
}

(RUN ? describe : describe.skip)(TITLE, () => {
  beforeAll(async () => {
    browser = await launchChromium() // first: without Chromium (and STRATA_REQUIRE_BROWSER=1) this fails at once
    server = await startDemoInspector({ cycles: 4, intervalMs: 0 })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('takes the token out of the address and shows a cycle the moment it runs', async () => {
    const { context, page, problems } = await openPage()
    await page.goto(server.url)
    await page.locator('main[data-view="cycles"] table.cycles tbody tr[data-cycle]').first().waitFor()
    expect(page.url()).not.toContain('token')
    expect(await page.evaluate("sessionStorage.getItem('strata.inspector.token')")).toBe(server.token)

    const before = (await api<{ cycle: number }>('/api/status')).json.cycle
    expect(await page.locator(`tr[data-cycle="${before + 1}"]`).count()).toBe(0)
    const sent = await api<{ messageId: string }>('/api/send', { destination: server.markupId, payloadText: 'tick', gasLimit: 10_000_000 })
    expect(sent.status).toBe(200)
    // The cycle runs from here, not from the page: the row can only arrive through the event stream.
    const cycle = await api<{ cycle: number; processed: number }>('/api/cycle', {})
    expect(cycle.json.cycle).toBe(before + 1)
    const fresh = page.locator(`table.cycles tbody tr[data-cycle="${before + 1}"]`)
    await fresh.waitFor()
    expect(await fresh.locator('td').nth(2).textContent()).toBe(String(cycle.json.processed))
    expect(await page.locator('table.cycles tbody tr').first().getAttribute('data-cycle')).toBe(String(before + 1))
    await page.locator(`[data-status-cycle="${before + 1}"]`).waitFor()
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(4)
    await expectClean(page, problems)
    await context.close()
  })

  it("draws a program's memory map and shows any plane's bytes in the hex view", async () => {
    const { context, page, problems } = await openPage()
    const allocation = await markupAllocation()
    const key = Math.floor(allocation.address / 65_536)
    await page.goto(`${server.origin}/#/program/${server.markupId}`)
    const cell = page.locator(`.memory-map button.cell[data-key="${key}"]`)
    await cell.waitFor()
    expect(await cell.getAttribute('class')).toMatch(/\bc1\b/) // a few bytes of 64 KiB: the lightest shade
    expect(await cell.getAttribute('title')).toContain(
      `covered by ${allocation.planeAllocations} allocation${allocation.planeAllocations === 1 ? '' : 's'}`)
    await cell.click()
    const caption = page.locator('.hex-caption')
    await caption.getByText('page 1 of 16').waitFor()
    const dump = (await page.locator('.hex-view pre.hex').textContent()) ?? ''
    expect(dump).toContain('3c 69 6d 67 20 73 72 63') // "<img src"
    expect(dump).toContain('<img src=x onerr') // the ASCII column, as text
    expect(dump.split('\n')).toHaveLength(256)
    await caption.getByRole('button', { name: 'next 4 KiB →' }).click()
    await caption.getByText('page 2 of 16').waitFor()
    // Typed: an address and a length of the hex view's own choosing.
    await page.locator('.hex-view input[name="address"]').fill(`${key >> 16}:${key & 0xffff}:${allocation.address % 65_536 + 5}`)
    await page.locator('.hex-view input[name="length"]').fill('3')
    await page.locator('.hex-view button[type="submit"]').click()
    await caption.getByText('3 bytes at').waitFor()
    expect((await page.locator('.hex-view pre.hex').textContent())?.trim()).toMatch(/73 72 63\s+src$/)
    await expectClean(page, problems)
    await context.close()
  })

  it('proves a range and verifies it in the page; a tampered root or proof is rejected', async () => {
    const { context, page, problems } = await openPage()
    const allocation = await markupAllocation()
    await page.goto(`${server.origin}/#/program/${server.markupId}`)
    await page.locator(`table.allocations tr[data-address="${allocation.address}"]`).getByRole('link', { name: 'prove' }).click()
    await page.locator('main[data-view="verify"]').waitFor()
    expect(await page.locator('input[name="address"]').inputValue()).toBe(String(allocation.address))
    await page.getByRole('button', { name: 'Prove and verify' }).click()
    const accepted = page.locator('[data-verdict="accepted"]')
    await accepted.waitFor()
    expect(await accepted.textContent()).toContain(`${MARKUP.length} bytes at`)
    expect(await accepted.locator('pre.hex').textContent()).toContain('<img src=x onerr')
    const root = (await api<{ stateRoot: string }>('/api/status')).json.stateRoot
    expect(await page.locator('input[name="root"]').inputValue()).toBe(root)

    // The same proof against another root.
    const tampered = root.slice(0, -1) + (root.endsWith('0') ? '1' : '0')
    await page.locator('input[name="root"]').fill(tampered)
    await page.getByRole('button', { name: 'Verify in this browser' }).click()
    const rejected = page.locator('[data-verdict="rejected"]')
    await rejected.waitFor()
    expect(await rejected.locator('.reason').textContent()).toBe('the proof is for another state root')

    // The right root, a proof whose bytes were changed.
    await page.getByRole('button', { name: 'Use the current state root' }).click()
    await expect.poll(() => page.locator('input[name="root"]').inputValue()).toBe(root)
    const proof = JSON.parse(await page.locator('textarea[name="proof"]').inputValue()) as { data: string }
    proof.data = (proof.data[0] === '0' ? '1' : '0') + proof.data.slice(1)
    await page.locator('textarea[name="proof"]').fill(JSON.stringify(proof))
    await page.getByRole('button', { name: 'Verify in this browser' }).click()
    await rejected.waitFor()
    expect(await rejected.locator('.reason').textContent()).not.toBe('the proof is for another state root')

    // An absent plane, proven and accepted.
    await page.getByLabel('an absent plane').check()
    await page.locator('input[name="region"]').fill('200')
    await page.locator('input[name="plane"]').fill('7')
    await page.getByRole('button', { name: 'Prove and verify' }).click()
    await accepted.getByText('Plane 7 of region 200').waitFor()
    await expectClean(page, problems)
    await context.close()
  })

  it('refuses to send without the token (401 shown, queue unchanged) and sends with it', async () => {
    const { context, page, problems } = await openPage()
    await page.goto(`${server.origin}/#/send`)
    const sendForm = page.locator('form[data-form="send"]')
    await sendForm.locator('input[name="destination"]').fill(server.markupId)
    await sendForm.locator('textarea[name="payload"]').fill('hello')
    const queueBefore = (await api<{ length: number }>('/api/queue')).json.length
    await sendForm.getByRole('button', { name: 'Send' }).click()
    const error = page.locator('.result-box[data-form="send"] .error')
    await error.waitFor()
    expect(await error.getAttribute('data-status')).toBe('401')
    expect(await error.textContent()).toContain('401 UNAUTHORIZED')
    expect(await error.textContent()).toContain('This page has no token')
    expect((await api<{ length: number }>('/api/queue')).json.length).toBe(queueBefore)

    // The address strata serve printed carries the token; the same tab keeps it in sessionStorage.
    await page.goto(server.url)
    await page.goto(`${server.origin}/#/send`)
    await sendForm.locator('input[name="destination"]').fill(server.markupId)
    await sendForm.locator('textarea[name="payload"]').fill('hello')
    await sendForm.getByRole('button', { name: 'Send' }).click()
    const queued = page.locator('.result-box[data-form="send"] .queued code[data-message-id]')
    await queued.waitFor()
    const queue = (await api<{ length: number; messages: { id: string; payloadText: string }[] }>('/api/queue')).json
    expect(queue.length).toBe(queueBefore + 1)
    expect(queue.messages.map((m) => m.id)).toContain(await queued.getAttribute('data-message-id'))
    await api('/api/cycle', {})
    await expectClean(page, problems)
    await context.close()
  })

  it("shows a program's markup as text: query replies and logs, outcomes' logs and errors, the mailbox", async () => {
    const { context, page, problems } = await openPage()
    await page.goto(server.url)
    await page.goto(`${server.origin}/#/send`)
    const queryForm = page.locator('form[data-form="query"]')
    await queryForm.locator('input[name="program"]').fill(server.markupId)
    await queryForm.locator('textarea[name="payload"]').fill('hi')
    await queryForm.getByRole('button', { name: 'Query' }).click()
    const reply = page.locator('.result-box[data-form="query"] .query-reply')
    await reply.waitFor()
    expect(await reply.locator('.reply-payload').textContent()).toBe(MARKUP)
    expect(await reply.locator('.log').allTextContents()).toEqual([MARKUP])
    expect(await reply.textContent()).toContain('SUCCESS_MANUAL')

    for (const text of ['hi', 'fail']) {
      expect((await api('/api/send', { destination: server.markupId, payloadText: text, gasLimit: 10_000_000 })).status).toBe(200)
    }
    await api('/api/cycle', {})
    await page.goto(`${server.origin}/#/queue`)
    const outcomes = page.locator('table.outcomes tbody tr[data-message]')
    await outcomes.first().waitFor()
    const failed = outcomes.filter({ hasText: 'EXECUTION_ERROR' }).first()
    expect(await failed.locator('.error-text').textContent()).toContain(MARKUP)
    expect(await failed.locator('.log').allTextContents()).toEqual([MARKUP])
    expect(await outcomes.filter({ hasText: 'SUCCESS_MANUAL' }).first().locator('.log').allTextContents()).toEqual([MARKUP])

    await page.goto(`${server.origin}/#/mailbox/${'0'.repeat(63)}1`)
    const mail = page.locator('table.mailbox tbody tr[data-message]', { hasText: 'SUCCESS_MANUAL' }).first()
    await mail.waitFor()
    expect(await mail.locator('.payload').textContent()).toBe(MARKUP)
    expect(await page.locator('main img, main script').count()).toBe(0)
    await expectClean(page, problems)
    await context.close()
  })
})
