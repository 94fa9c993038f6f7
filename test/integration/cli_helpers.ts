// Spawning the built `strata` binary (dist/cli/main.js) for the CLI tests.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** The built binary, found from this file (not from the working directory). */
export const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface Ran {
  readonly stdout: string
  readonly stderr: string
}

/** Runs `strata ...args` and resolves when it exits 0 (rejects otherwise, with code, stdout and stderr). */
export function strata(...args: string[]): Promise<Ran> {
  return exec(process.execPath, [BIN, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
}

/** Runs `strata ...args --json` and parses its stdout. */
export async function strataJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const { stdout } = await strata(...args, '--json')
  return JSON.parse(stdout) as T
}

/** Runs `strata ...args`, expecting a non-zero exit; resolves with the exit status and output. */
export async function strataFails(...args: string[]): Promise<Ran & { readonly code: number }> {
  try {
    await strata(...args)
  } catch (error) {
    const { code, stdout, stderr } = error as { code: unknown; stdout: string; stderr: string }
    if (typeof code !== 'number') throw error
    return { code, stdout, stderr }
  }
  throw new Error(`strata ${args.join(' ')} exited 0`)
}
