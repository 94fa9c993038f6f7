/**
 * The golden workload (counters, a key-value store, probes that allocate, store, save state, fail and exit) and
 * the state roots and gas it must give on every store at any stream count: golden_roots.test.ts pins them on the
 * memory store and LMDB, test/cluster on PostgreSQL. See golden_roots.test.ts for when they may change.
 */
import { Runtime, type RuntimeOptions } from '../../src/index.js'

const USER = '22'.repeat(32)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

export const GOLDEN = {
  afterInit: '3ff0ef33b8511958e63ce716d3101dcb259b8d0d06f742952157af05e46a9708',
  rounds: [
    ['f6caba7c716139c5771cabfe1117ed81fdcfcaf9e2ec684a073ba6a7757fe44f', 450_960],
    ['0240d2afa1adb94b6701b60ad80f14c6e733f1f935e6e4ae845f6a300899e143', 845_646],
    ['700f5758fc9965e92d652f29659503840e7e3c0066ae960f27695a28b9375f00', 1_104_204],
    ['6f4c582fa08d40f0824a3c06f13f81d54dc1e98c621bfac61973322d73353111', 1_385_761],
  ],
} as const

/**
 * Restarts between rounds: before round r (1..3), if `restarts` has r, the runtime is closed, the function runs
 * (it may tamper with what the store left) and returns the options to reopen with; the reopened runtime must be
 * at the cycle and state root it closed at, and the workload goes on.
 */
export type Restarts = ReadonlyMap<number, () => Promise<RuntimeOptions>>

export async function workload(options: RuntimeOptions, restarts: Restarts = new Map()): Promise<{ afterInit: string; rounds: [string, number][] }> {
  let rt = await Runtime.open(options)
  try {
    const counter = await rt.uploadCode('programs/counter.ts')
    const kv = await rt.uploadCode('programs/kv_store.ts')
    const probe = await rt.uploadCode('test/fixtures/programs/probe.ts')
    const ids = []
    for (let i = 0; i < 30; i += 1) ids.push(await rt.createProgram(counter, { salt: enc(`c${i}`), payload: enc(String(i)), gasLimit: 10_000_000 }))
    const kvs = []
    for (let i = 0; i < 5; i += 1) kvs.push(await rt.createProgram(kv, { salt: enc(`k${i}`), gasLimit: 10_000_000 }))
    const probes = []
    for (let i = 0; i < 5; i += 1) probes.push(await rt.createProgram(probe, { salt: enc(`p${i}`), gasLimit: 50_000_000 }))
    const afterInit = (await rt.runUntilIdle()).at(-1)!.stateRoot
    const rounds: [string, number][] = []
    for (let round = 0; round < 4; round += 1) {
      const restart = restarts.get(round)
      if (restart !== undefined) {
        const [cycle, root] = [rt.cycle, rt.stateRoot()]
        await rt.close()
        rt = await Runtime.open(await restart())
        if (rt.cycle !== cycle || rt.stateRoot() !== root) {
          throw new Error(`reopened before round ${round} at cycle ${rt.cycle}, root ${rt.stateRoot()}; closed at cycle ${cycle}, root ${root}`)
        }
      }
      for (const id of ids) rt.send({ source: USER, destination: id, payload: enc(round % 2 ? 'inc' : `add:${round * 7}`), gasLimit: 1_000_000 })
      for (const [i, id] of kvs.entries()) {
        rt.send({ source: USER, destination: id, payload: enc(JSON.stringify({ op: 'set', key: `k${round}`, value: 'v'.repeat(100 * (i + round)) })), gasLimit: 50_000_000 })
      }
      for (const [i, id] of probes.entries()) {
        const steps: unknown[] = [{ do: 'alloc', as: 'a', size: 5000 + 1000 * i }, { do: 'store', at: 'a', text: `round ${round}` }, { do: 'state', set: { round, big: 'x'.repeat(round * 3000) } }]
        if (round === 2 && i === 0) steps.push({ do: 'throw' })
        if (round === 3 && i === 1) steps.push({ do: 'exit', to: USER })
        rt.send({ source: USER, destination: id, payload: enc(JSON.stringify(steps)), gasLimit: 50_000_000 })
      }
      for (const report of await rt.runUntilIdle()) rounds.push([report.stateRoot, report.gasBurned])
    }
    return { afterInit, rounds }
  } finally {
    await rt.close()
  }
}
