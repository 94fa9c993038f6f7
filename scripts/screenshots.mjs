// `npm run screenshots`: PNGs of the inspector's main views (1280x800) for docs/inspector.md, taken in
// Chromium with the browser tests' setup (test/browser/inspector_fixture.mjs): a demo data directory, `strata
// serve` on it, and a dozen cycles of a mixed workload run while the page watches, so the timeline has live
// timings, failures and freshly written planes. Writes docs/images/inspector-*.png.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium, startDemoInspector } from '../test/browser/inspector_fixture.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const OUT = path.join(ROOT, 'docs', 'images')
const LIVE_CYCLES = 14
const GAS = 20_000_000

const server = await startDemoInspector({ cycles: 6, intervalMs: 0 })
const browser = await launchChromium()
try {
  const call = async (route, body) => {
    const response = await fetch(server.origin + route, body === undefined ? {} : {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` }, body: JSON.stringify(body),
    })
    const json = await response.json()
    if (!response.ok) throw new Error(`${route}: ${response.status} ${JSON.stringify(json)}`)
    return json
  }
  const idOf = async (name) => (await call(`/api/programs?prefix=${server.demoPrograms[name]}`)).programs[0].id
  const [kv, counter, token] = [await idOf('kv'), await idOf('counter-0'), await idOf('token')]
  const send = (destination, payloadText) => call('/api/send', { destination, payloadText, gasLimit: GAS })
  const user = (n) => (n % 3 === 0 ? 'a1' : n % 3 === 1 ? 'b2' : 'c3').repeat(32)

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  page.on('pageerror', (error) => { throw error })
  await page.goto(server.url)
  await page.locator('table.cycles tbody tr[data-cycle]').first().waitFor()

  // A workload whose size and failures vary from cycle to cycle; kv values of up to ~40 KiB spread over planes.
  for (let n = 0; n < LIVE_CYCLES; n += 1) {
    for (let k = 0; k < 3 + (n % 4) * 3; k += 1) await send(counter, 'inc')
    for (let k = 0; k < 6; k += 1) {
      await send(kv, JSON.stringify({ op: 'put', key: `big${(n * 6 + k) % 40}`, value: 'x'.repeat(2_000 + ((n * 7 + k * 13) % 19) * 2_000) }))
    }
    if (n % 4 === 3) for (let k = 0; k < 5; k += 1) await send(kv, JSON.stringify({ op: 'delete', key: `big${(n * 5 + k * 3) % 40}` }))
    await send(token, JSON.stringify({ op: 'transfer', to: user(n + 1), amount: String(40 + n * 25) }))
    if (n % 3 === 0) await send(server.markupId, 'fail')
    await call('/api/cycle', {})
    await page.waitForTimeout(60)
  }
  // Once the rows' arrival highlight has faded, one more cycle: only its row is highlighted.
  await page.waitForTimeout(2_600)
  await send(counter, 'inc')
  await send(kv, JSON.stringify({ op: 'put', key: 'big1', value: 'y'.repeat(9_000) }))
  const { cycle: lastCycle } = await call('/api/cycle', {})
  await page.locator(`table.cycles tbody tr[data-cycle="${lastCycle}"]`).waitFor()

  mkdirSync(OUT, { recursive: true })
  const shot = async (name) => {
    await page.waitForTimeout(400) // fresh-row highlights and chart resizes settle
    await page.screenshot({ path: path.join(OUT, `inspector-${name}.png`) })
    console.log(`docs/images/inspector-${name}.png`)
  }
  /** Scrolls so `selector` sits just under the sticky header. */
  const scrollTo = (selector) => page.evaluate((s) => {
    const header = document.querySelector('header').getBoundingClientRect().height
    window.scrollTo(0, document.querySelector(s).getBoundingClientRect().top + window.scrollY - header - 12)
  }, selector)

  await shot('timeline')

  await page.goto(`${server.origin}/#/programs`)
  await page.locator('table.programs tbody tr').first().waitFor()
  await shot('programs')

  // The kv store's map: planes written in the last cycles are ringed. In the hex view, a range that starts
  // inside one value and runs into the next ones (the zeros between them are alignment padding).
  const detail = await call(`/api/programs/${kv}`)
  await page.goto(`${server.origin}/#/program/${kv}`)
  await page.locator('.memory-map button.cell').first().waitFor()
  await page.locator('.region-row', { hasText: 'heap' }).locator('button.cell').first().click()
  await page.locator('.hex-caption').getByText('page 1 of 16').waitFor()
  await page.locator('.hex-view input[name="address"]').fill(String(detail.allocations[1].address - 80))
  await page.locator('.hex-view input[name="length"]').fill('8192')
  await page.locator('.hex-view button[type="submit"]').click()
  await page.locator('.hex-caption').getByText('page 1 of 2').waitFor()
  await scrollTo('[data-section="Memory map"]')
  await shot('program')

  const allocation = detail.allocations[Math.floor(detail.allocations.length / 2)]
  await page.goto(`${server.origin}/#/verify?program=${kv}&address=${allocation.address}&length=48`)
  await page.getByRole('button', { name: 'Prove and verify' }).click()
  await page.locator('[data-verdict="accepted"]').waitFor()
  await shot('verify')

  // Messages left in the queue, and the outcomes of the last cycles (the markup program's failures among them).
  for (let k = 0; k < 4; k += 1) await send(counter, 'inc')
  await send(kv, JSON.stringify({ op: 'get', key: 'big3' }))
  await send(server.markupId, 'hello')
  await page.goto(`${server.origin}/#/queue`)
  await page.locator('table.outcomes tbody tr[data-message]').first().waitFor()
  await shot('queue')
} finally {
  await browser.close()
  await server.close()
}
