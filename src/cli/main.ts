#!/usr/bin/env node
/**
 * The `strata` command line (docs/cli.md). Every command takes --help and --json. Errors go to stderr as
 * `strata: <message> (code <CODE>)`, or under --json as one line `{"error":{"code","message"}}`; the exit
 * status is 2 for usage and input errors (and anything else that stops a command), 1 for a rejected proof or
 * a failed check.
 */
import { packageVersion } from '../version.js'
import { CliError, parse, usageError, type Command } from './args.js'
import { mailbox, prove, query, run, send, verify } from './commands.js'
import { coordinator } from './coordinator.js'
import { demo } from './demo.js'
import { inspect } from './inspect.js'
import { node } from './node.js'
import { makeOut } from './output.js'
import { serve } from './serve.js'
import { memoryWalkthrough } from './walkthrough.js'

const memory: Command = {
  name: 'memory',
  usage: 'strata memory',
  about: 'a walkthrough of 3D memory: allocation, gas, compaction, rollback',
  help: `Runs the 3D memory on its own, with no data directory: static and heap allocations, a load across a plane
boundary, fragmentation after frees, a compaction preview and its result, and a rolled-back write.`,
  options: {},
  async run(args, out) {
    args.expect(0, 0, 'no arguments')
    out.result(memoryWalkthrough((line) => out.line(line)))
    return 0
  },
}

const COMMANDS: readonly Command[] = [demo, run, send, query, mailbox, inspect, prove, verify, serve, coordinator, node, memory]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return `usage: strata <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.about}`).join('\n')}

\`strata --version\` prints the version. Every command takes --help (its own usage) and --json (machine-readable output on stdout; errors as JSON on
stderr). Commands on a data directory take --data DIR (default ./data), or --url URL for a PostgreSQL database. Exit status: 0 ok, 1 a rejected proof
or failed check, 2 a usage or input error. docs/cli.md has the details.
`
}

const commandHelp = (c: Command): string => `usage: ${c.usage}\n\n${c.help}\n  --json               machine-readable output\n`

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return 0
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`strata ${packageVersion()}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) throw usageError(`unknown command ${JSON.stringify(name)}; \`strata --help\` lists them`)
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(command))
    return 0
  }
  const args = parse(command.name, rest, command.options)
  return command.run(args, makeOut(args.json))
}

// A reader that stops early (`strata inspect | head`) closes the pipe: the command finishes without its output.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error
})

const argv = process.argv.slice(2)
main(argv).then((status) => {
  process.exitCode = status
}, (error: Error & { code?: unknown; exitCode?: number }) => {
  const code = typeof error.code === 'string' ? error.code : 'INTERNAL'
  const exitCode = error instanceof CliError ? error.exitCode : 2
  if (argv.includes('--json')) {
    process.stderr.write(`${JSON.stringify({ error: { code, message: error.message } })}\n`)
  } else {
    process.stderr.write(`strata: ${error.message} (code ${code})\n`)
    const command = COMMANDS.find((c) => c.name === argv[0])
    if (code === 'USAGE') process.stderr.write(command === undefined ? usage() : `usage: ${command.usage}\n`)
  }
  process.exitCode = exitCode
})
