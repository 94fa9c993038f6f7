// A node for nodes.test.ts's pause and heap tests (a worker heap limit in MiB may follow): runNode (from dist)
// with a hook that, on its Nth result (0: never), prints
// {"kind":"holding"} and waits before writing it, so the test can SIGSTOP it while it holds a result. Prints every
// event as a JSON line; SIGTERM stops it.
import { runNode } from '../../dist/cluster/index.js'

const [url, stream, cacheDir, term, holdOn, workerHeapMb] = process.argv.slice(2)
const controller = new AbortController()
process.once('SIGTERM', () => controller.abort())
let results = 0
await runNode({
  url, stream: Number(stream), cacheDir, termMs: Number(term), name: `held-${stream}`, signal: controller.signal,
  ...(workerHeapMb !== undefined ? { workerHeapMb: Number(workerHeapMb) } : {}),
  onEvent: (event) => console.log(JSON.stringify(event)),
  beforeResult: async (cycle) => {
    results += 1
    if (results !== Number(holdOn)) return
    console.log(JSON.stringify({ kind: 'holding', cycle }))
    await new Promise((resolve) => setTimeout(resolve, 3_000))
  },
})
