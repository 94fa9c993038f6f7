// `npm run build`: compiles src/ to dist/ with tsc, incrementally (dist/.tsbuildinfo). When nothing under src/
// (files or directories, so deletions count) nor the tsconfig files changed since the last build, tsc is not even
// started: a no-change build takes milliseconds. `node scripts/build.mjs --force` always runs tsc.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync, utimesSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const buildInfo = path.join(root, 'dist', '.tsbuildinfo')

function newest(dir) {
  let latest = statSync(dir).mtimeMs
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs)
  }
  return latest
}

function builtAt() {
  try {
    return statSync(buildInfo).mtimeMs
  } catch {
    return -1
  }
}

const inputs = Math.max(newest(path.join(root, 'src')), ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(path.join(root, f)).mtimeMs))
if (!process.argv.includes('--force') && builtAt() > inputs) process.exit(0)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (result.status === 0) {
  // The guest runtime, bundled once here rather than in every thread that starts (src/engine/guest_code.ts).
  const { writeGuestBoot } = await import(pathToFileURL(path.join(root, 'dist', 'engine', 'guest_code.js')).href)
  writeGuestBoot()
  // tsc leaves its build info untouched when no output changed: mark this build as done now.
  const now = new Date()
  utimesSync(buildInfo, now, now)
}
process.exit(result.status ?? 1)
