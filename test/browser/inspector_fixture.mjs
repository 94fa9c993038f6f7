// The browser tests' and the screenshot script's setup: a demo data directory with one more program (markup.ts,
// whose logs and replies are markup), `strata serve` on it as a child process, and Chromium through
// playwright-core. Plain JavaScript so scripts/screenshots.mjs can use it without a TypeScript loader.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js')
export const CHROMIUM_PATH = '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]
export const MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
const SERVE_START_MS_MAX = 20_000

/** Makes the data directory: `strata demo`, then the markup program created with the public API. */
export async function makeDataDir({ cycles = 4 } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'strata-inspector-'))
  const demo = spawnSync(process.execPath, [CLI, 'demo', '--data', dataDir, '--cycles', String(cycles)], { encoding: 'utf8' })
  if (demo.status !== 0) throw new Error(`strata demo failed (${demo.status}): ${demo.stderr}`)
  // "programs (id prefixes; ...): counter-0 dd9eb33e, counter-1 690d830b, ..." names the demo's programs.
  const listed = /^programs \(id prefixes[^)]*\): (.*)$/m.exec(demo.stdout)
  if (!listed) throw new Error(`strata demo did not list its programs: ${demo.stdout}`)
  const demoPrograms = Object.fromEntries(listed[1].split(', ').map((pair) => pair.split(' ')))
  const { Runtime } = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href)
  const rt = await Runtime.open({ dataDir })
  try {
    const code = await rt.uploadCode(path.join(ROOT, 'test', 'fixtures', 'programs', 'markup.ts'))
    const markupId = await rt.createProgram(code, { gasLimit: 50_000_000, salt: new TextEncoder().encode('markup') })
    await rt.runUntilIdle({ maxCycles: 10 })
    return { dataDir, markupId, demoPrograms }
  } finally {
    await rt.close()
  }
}

/** Starts `strata serve --json` on the directory and reads its start line. */
export async function serve(dataDir, { intervalMs = 0 } = {}) {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', dataDir, '--port', '0', '--json', '--interval', String(intervalMs)],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strata serve printed nothing in ${SERVE_START_MS_MAX} ms: ${stderr}`)), SERVE_START_MS_MAX)
    createInterface({ input: child.stdout }).once('line', (text) => { clearTimeout(timer); resolve(text) })
    void exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`strata serve exited (${code}): ${stderr}`)) })
  })
  const { url, token } = JSON.parse(line)
  const origin = new URL(url).origin
  return {
    url, token, origin,
    async close() {
      child.kill('SIGTERM')
      const { code, signal } = await exited
      if (code !== 0) throw new Error(`strata serve ended with ${code ?? signal}: ${stderr}`)
    },
  }
}

/** Chromium through playwright-core; Playwright gives every launch a fresh temporary profile. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH} (.ci/run installs Debian's chromium)`)
  const { chromium } = await import('playwright-core')
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

/** The data directory, the server on it, and a close() that stops the server and removes the directory. */
export async function startDemoInspector(options = {}) {
  const { dataDir, markupId, demoPrograms } = await makeDataDir(options)
  try {
    const server = await serve(dataDir, options)
    return {
      ...server, dataDir, markupId, demoPrograms,
      async close() {
        try {
          await server.close()
        } finally {
          rmSync(dataDir, { recursive: true, force: true })
        }
      },
    }
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
}
