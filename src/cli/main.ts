#!/usr/bin/env node
/** The `strata` command line. */
import { memoryWalkthrough } from './walkthrough.js'

const USAGE = `usage: strata <command>

commands:
  demo      a walkthrough of Strata's 3D memory: allocation, gas, compaction, rollback
  --help    this text
`

function main(argv: readonly string[]): number {
  const [command] = argv
  switch (command) {
    case 'demo':
      memoryWalkthrough((line) => process.stdout.write(`${line}\n`))
      return 0
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    default:
      process.stderr.write(`strata: unknown command ${JSON.stringify(command)} (code UNKNOWN_COMMAND)\n${USAGE}`)
      return 2
  }
}

process.exitCode = main(process.argv.slice(2))
