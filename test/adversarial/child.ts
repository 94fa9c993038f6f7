// Runs the adversarial workload against the built package and prints its result as JSON: the test spawns this
// with another time zone and locale, and compares.
import { Runtime } from 'strata-runtime'
import { runWorkload } from './workload.js'

// The built package's Runtime is the same class as src/'s, seen through its declaration files.
const result = await runWorkload(Runtime as unknown as Parameters<typeof runWorkload>[0], { store: 'memory', streams: Number(process.argv[2] ?? 2) })
process.stdout.write(JSON.stringify(result))
