// Runs the adversarial workload against the built package and prints its result as JSON: the test spawns this
// with another time zone and locale, and compares.
import { Runtime } from 'strata'
import { runWorkload } from './workload.js'

const result = await runWorkload(Runtime, { store: 'memory', streams: Number(process.argv[2] ?? 2) })
process.stdout.write(JSON.stringify(result))
