#!/usr/bin/env node
/** The `strata` command line. */
import { readFileSync } from 'node:fs'
import { verifyProof } from '../merkle/index.js'
import { runDemo } from './demo.js'
import { memoryWalkthrough } from './walkthrough.js'

const USAGE = `usage: strata <command> [options]

commands:
  demo [--cycles N] [--streams N] [--proof FILE]
                                    the example programs on parallel streams: per-cycle summaries with state
                                    roots, then a memory proof checked against the final root (and written
                                    to FILE)
  memory                            a walkthrough of 3D memory: allocation, gas, compaction, rollback
  verify PROOF.json --root HEX      check a proof file against a state root (needs nothing else)
  --help                            this text
`

class UsageError extends Error {
  readonly code = 'USAGE'
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name)
  if (i < 0) return undefined
  const value = args[i + 1]
  if (value === undefined) throw new UsageError(`${name} needs a value`)
  return value
}

function count(args: readonly string[], name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = flag(args, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`)
  }
  return value
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv
  const print = (line: string): void => { process.stdout.write(`${line}\n`) }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  switch (command) {
    case 'demo': {
      const streams = count(args, '--streams', undefined, 0, 64)
      const proofFile = flag(args, '--proof')
      const { ok } = await runDemo({
        cycles: count(args, '--cycles', 12, 1, 10_000)!, print,
        ...(streams !== undefined ? { streams } : {}), ...(proofFile !== undefined ? { proofFile } : {}),
      })
      return ok ? 0 : 1
    }
    case 'memory':
      memoryWalkthrough(print)
      return 0
    case 'verify': {
      const file = args[0]
      const root = flag(args, '--root')
      if (file === undefined || file.startsWith('--') || root === undefined) throw new UsageError('verify needs PROOF.json and --root HEX')
      let proof: unknown
      try {
        proof = JSON.parse(readFileSync(file, 'utf8'))
      } catch (error) {
        throw Object.assign(new Error(`cannot read proof ${JSON.stringify(file)}: ${(error as Error).message}`), { code: 'BAD_PROOF_FILE' })
      }
      const result = verifyProof(root, proof)
      if (!result.ok) {
        process.stderr.write(`strata: proof rejected: ${(result as { reason: string }).reason} (code PROOF_REJECTED)\n`)
        return 1
      }
      print('data' in result
        ? `proof verified: ${result.data.length} bytes under root ${root}`
        : `proof verified: the plane is absent (reads as zeros) under root ${root}`)
      return 0
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

main(process.argv.slice(2)).then((status) => {
  process.exitCode = status
}, (error: Error & { code?: string }) => {
  const code = error.code ?? 'ERROR'
  process.stderr.write(`strata: ${error.message} (code ${code === 'USAGE' ? 'USAGE' : code})\n`)
  if (code === 'USAGE') process.stderr.write(USAGE)
  process.exitCode = 2
})
