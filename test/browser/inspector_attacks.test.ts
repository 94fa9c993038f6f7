/**
 * Attacks on the inspector page in Chromium (the fixture of inspector.test.ts, and its skip logic): markup in
 * every hash route, hostile proof JSON pasted into the verify view (tampered, for another root, deeply nested,
 * huge), and a page on another origin that frames the inspector and reads its API.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, launchChromium, startDemoInspector, type DemoInspector } from './inspector_fixture.mjs'

const HAVE_CHROMIUM = existsSync(CHROMIUM_PATH)
const REQUIRED = process.env.STRATA_REQUIRE_BROWSER === '1'
const RUN = HAVE_CHROMIUM || REQUIRED
const TITLE = RUN
  ? 'attacks on the web inspector in Chromium'
  : `skipped: Chromium not found at ${CHROMIUM_PATH} (.ci/run installs Debian's chromium)`
const XSS = '<img src=x onerror="window.__xss=1"><svg onload="window.__xss=1"></svg><script>window.__xss=1</script>'

let server: DemoInspector
let browser: Browser
let evil: Server
let evilOrigin: string

async function openPage(): Promise<{ context: BrowserContext; page: Page; errors: string[]; csp: string[] }> {
  const context = await browser.newContext()
  const page = await context.newPage()
  const errors: string[] = []
  const csp: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) csp.push(message.text())
  })
  return { context, page, errors, csp }
}

const xssRan = (page: Page): Promise<unknown> => page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)

;(RUN ? describe : describe.skip)(TITLE, () => {
  beforeAll(async () => {
    browser = await launchChromium()
    server = await startDemoInspector({ cycles: 2, intervalMs: 0 })
    // Another origin (another port of localhost: another site than 127.0.0.1): frames the inspector and reads its API.
    evil = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' })
      response.end(`<!doctype html><iframe id="f" src="${server.origin}/"></iframe><script>
        window.results = {}
        fetch('${server.origin}/api/status', { mode: 'no-cors' }).then((r) => { results.noCors = r.type }, () => { results.noCors = 'refused' })
        fetch('${server.origin}/api/status').then(() => { results.cors = 'read' }, () => { results.cors = 'refused' })
        const events = new EventSource('${server.origin}/api/events')
        events.onmessage = events.addEventListener('status', () => { results.events = 'read' })
        events.onerror = () => { results.events = results.events ?? 'refused'; events.close() }
      </script>`)
    })
    await new Promise<void>((resolve) => evil.listen(0, 'localhost', resolve))
    evilOrigin = `http://localhost:${(evil.address() as AddressInfo).port}`
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    evil?.close()
  })

  it('markup in every hash route shows as text and runs nothing', async () => {
    const { context, page, errors, csp } = await openPage()
    await page.goto(server.url)
    await page.locator('main[data-view="cycles"]').waitFor()
    const encoded = encodeURIComponent(XSS)
    for (const route of [`#/${encoded}`, `#/program/${encoded}`, `#/mailbox/${encoded}`, `#/program/${'a'.repeat(64)}`,
      `#/verify?program=${encoded}&address=${encoded}&length=${encoded}&region=${encoded}`, `#/send?to=${encoded}`,
      `#/programs?prefix=${encoded}&status=${encoded}`, `#/queue?offset=${encoded}`, `#/${XSS}`, `#/program/${XSS}`]) {
      await page.evaluate(`location.hash = ${JSON.stringify(route)}`)
      await page.waitForTimeout(50)
      expect(await page.locator('main img, main svg, main script, main iframe').count(), route).toBe(0)
    }
    expect(await page.locator('main').textContent()).toContain('64 hex digits')
    expect(await xssRan(page)).toBeUndefined()
    expect(csp).toEqual([])
    expect(errors).toEqual([])
    await context.close()
  })

  it('hostile proof JSON is rejected, and a huge or deeply nested one does not freeze the tab', async () => {
    const { context, page, errors } = await openPage()
    await page.goto(server.url.replace('#token=', '#/verify?x=1&token='))
    await page.locator('main[data-view="verify"]').waitFor()
    const root = (await (await fetch(`${server.origin}/api/status`)).json() as { stateRoot: string }).stateRoot
    const counter = server.demoPrograms['counter-0']!
    const ids = (await (await fetch(`${server.origin}/api/programs?prefix=${counter}`)).json() as { programs: { id: string; stateAddress: number }[] }).programs
    const { proof } = await (await fetch(`${server.origin}/api/programs/${ids[0]!.id}/proof?address=${ids[0]!.stateAddress}&length=8`)).json() as { proof: Record<string, unknown> }
    const otherRoot = root.replace(/^./, (c) => (c === '0' ? '1' : '0'))
    const cases: [string, string, 'accepted' | 'rejected'][] = [
      ['the real proof', JSON.stringify(proof), 'accepted'],
      ['another root', JSON.stringify({ ...proof, stateRoot: otherRoot }), 'rejected'],
      ['changed data', JSON.stringify({ ...proof, data: String(proof.data).replace(/^./, (c) => (c === '0' ? '1' : '0')) }), 'rejected'],
      ['markup', JSON.stringify({ ...proof, kind: XSS }), 'rejected'],
      ['deeply nested', '['.repeat(500_000) + ']'.repeat(500_000), 'rejected'],
      ['huge', JSON.stringify({ ...proof, pad: 'x'.repeat(9_000_000) }), 'rejected'],
    ]
    for (const [label, text, verdict] of cases) {
      await page.locator('input[name="root"]').fill(label === 'another root' ? otherRoot : root)
      // Set without typing: megabytes of keystrokes are not the attack (over PROOF_JSON_MAX_CHARS is refused unparsed).
      await page.locator('textarea[name="proof"]').evaluate((area, value) => { (area as unknown as { value: string }).value = value }, text)
      const started = Date.now()
      await page.getByRole('button', { name: 'Verify in this browser' }).click()
      await page.locator(`[data-verdict="${verdict}"]`).waitFor({ timeout: 5000 })
      expect(Date.now() - started, label).toBeLessThan(5000)
      if (label === 'another root') {
        // The root field and the proof agree, but neither is the server's state root: the path must not climb to it.
        expect(await page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('rejected')
      }
    }
    expect(await xssRan(page)).toBeUndefined()
    expect(errors).toEqual([])
    await context.close()
  })

  it('a page of another origin can neither frame the inspector nor read its API or event stream', async () => {
    const { context, page } = await openPage()
    await page.goto(`${evilOrigin}/`)
    await page.waitForFunction(() => {
      const r = (globalThis as { results?: Record<string, string> }).results
      return r !== undefined && r.noCors !== undefined && r.cors !== undefined && r.events !== undefined
    })
    const results = await page.evaluate(() => (globalThis as { results?: Record<string, string> }).results)
    // Even an opaque no-cors answer is withheld: Cross-Origin-Resource-Policy: same-origin makes the browser refuse it.
    expect(results).toEqual({ noCors: 'refused', cors: 'refused', events: 'refused' })
    // The frame is blocked by frame-ancestors 'none': nothing of the inspector runs in it.
    const frame = page.frames().find((f) => f !== page.mainFrame())
    expect(await frame?.locator('header').count().catch(() => 0) ?? 0).toBe(0)
    // The server refused the cross-site read itself (403), so it holds no stream for that page.
    const status = await (await fetch(`${server.origin}/api/status`)).json() as { cycle: number }
    expect(status.cycle).toBeGreaterThan(0)
    await context.close()
  })
})
