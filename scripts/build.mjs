// `npm run build`: compiles src/ to dist/ with tsc, incrementally (dist/.tsbuildinfo), then bundles the web
// inspector's page (src/web/page/) with esbuild into dist/inspector/. Each step is skipped when none of its
// inputs (files or directories, so deletions count) changed since it last ran: a no-change build takes
// milliseconds and starts neither tsc nor esbuild. `node scripts/build.mjs --force` always runs both.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const force = process.argv.includes('--force')
const buildInfo = path.join(root, 'dist', '.tsbuildinfo')
const inspectorDir = path.join(root, 'dist', 'inspector')
// Written last by the inspector step: its time is when the page was last bundled.
const inspectorStamp = path.join(inspectorDir, '.built')

function newest(dir) {
  let latest = statSync(dir).mtimeMs
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs)
  }
  return latest
}

function modifiedAt(file) {
  try {
    return statSync(file).mtimeMs
  } catch {
    return -1
  }
}

function touch(file) {
  const now = new Date()
  utimesSync(file, now, now)
}

const sources = newest(path.join(root, 'src'))

function compile() {
  const inputs = Math.max(sources, ...['tsconfig.json', 'tsconfig.build.json'].map((f) => modifiedAt(path.join(root, f))))
  if (!force && modifiedAt(buildInfo) > inputs) return 0
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (result.status !== 0) return result.status ?? 1
  return null // compiled: the guest boot follows
}

const compiled = compile()
if (compiled === null) {
  // The guest runtime, bundled once here rather than in every thread that starts (src/engine/guest_code.ts).
  const { writeGuestBoot } = await import(pathToFileURL(path.join(root, 'dist', 'engine', 'guest_code.js')).href)
  writeGuestBoot()
  // tsc leaves its build info untouched when no output changed: mark this build as done now.
  touch(buildInfo)
} else if (compiled !== 0) {
  process.exit(compiled)
}

// ---- the inspector page (docs/inspector.md) ----------------------------------------------------------------
// The page imports src/merkle/verify.ts and src/constants.ts besides src/web/page/, so any change under src/
// rebundles it (esbuild takes ~100 ms); so do this script and the uPlot package.
const pageInputs = Math.max(sources, modifiedAt(fileURLToPath(import.meta.url)),
  modifiedAt(path.join(root, 'node_modules', 'uplot', 'package.json')))
if (force || modifiedAt(inspectorStamp) <= pageInputs) {
  const esbuild = await import('esbuild')
  const assets = path.join(inspectorDir, 'assets')
  mkdirSync(assets, { recursive: true })
  const common = { bundle: true, minify: true, logLevel: 'warning', legalComments: 'none', absWorkingDir: root }
  try {
    await esbuild.build({
      ...common,
      entryPoints: [path.join(root, 'src', 'web', 'page', 'main.ts')],
      outfile: path.join(assets, 'inspector.js'),
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      // The page runs in a browser: a Node builtin reaching the bundle is a bug, not something to shim.
      plugins: [{
        name: 'no-node-builtins',
        setup(build) {
          build.onResolve({ filter: /^node:|^(fs|path|crypto|os|url|util|stream|buffer|worker_threads|child_process)$/ }, (args) => ({
            errors: [{ text: `the inspector page imports the Node builtin '${args.path}' (from ${path.relative(root, args.importer)})` }],
          }))
        },
      }],
    })
    await esbuild.build({
      ...common,
      entryPoints: [path.join(root, 'src', 'web', 'page', 'inspector.css')],
      outfile: path.join(assets, 'inspector.css'),
      target: ['chrome110', 'firefox110', 'safari16'],
    })
  } catch {
    process.exit(1) // esbuild printed the errors
  }
  copyFileSync(path.join(root, 'src', 'web', 'page', 'index.html'), path.join(inspectorDir, 'index.html'))
  writeFileSync(inspectorStamp, '')
  touch(inspectorStamp)
}
process.exit(0)
