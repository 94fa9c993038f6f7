// Runs every bench/*.bench.ts (or those named on the command line), prints one table and writes
// bench/results.json. Bench files are TypeScript; esbuild bundles each into bench/.out first, with
// packages left external, so they import the compiled code paths exactly as users would.
import { build } from 'esbuild'
import { readdir, writeFile, mkdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = (await readdir(here))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort()
const outDir = path.join(here, '.out')
await mkdir(outDir, { recursive: true })

const rows = []
for (const file of files) {
  const outfile = path.join(outDir, file.replace(/\.ts$/, '.mjs'))
  await build({
    entryPoints: [path.join(here, file)], outfile, bundle: true, platform: 'node', format: 'esm',
    packages: 'external', target: 'node20', sourcemap: 'inline', logLevel: 'warning',
  })
  process.stdout.write(`running ${file} ...\n`)
  const mod = await import(pathToFileURL(outfile).href)
  const result = await mod.default()
  for (const row of result) {
    rows.push(row)
    process.stdout.write(`  ${row.name}: ${fmt(row.value)} ${row.unit} (baseline ${fmt(row.baseline)}, ratio ${row.ratio.toFixed(2)}, target ${row.target}${row.met ? '' : ' NOT MET'})\n`)
  }
}

function fmt(n) {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US')
  return n.toPrecision(3)
}

const header = ['suite', 'figure', 'value', 'unit', 'baseline (same run)', 'baseline value', 'ratio', 'target', 'met']
const table = [header, ...rows.map((r) => [r.suite, r.name, fmt(r.value), r.unit, r.baselineName, fmt(r.baseline), r.ratio.toFixed(2), r.target, r.met ? 'yes' : 'no'])]
const widths = header.map((_, i) => Math.max(...table.map((row) => String(row[i]).length)))
process.stdout.write('\n' + table.map((row) => row.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n') + '\n')
if (wanted.length === 0) {
  await writeFile(path.join(here, 'results.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n')
}
