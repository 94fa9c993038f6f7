// The workload of test/integration/crash.test.ts, run in a child process so that it can be killed with SIGKILL
// at any instant (or run under a file-size limit). Plain ESM on the built package ('strata' is dist/), so it
// needs `npm run build` first (npm test does that).
//
//   node crash_child.mjs <dataDir | :memory: | postgres://...> <cycles> <streams> [open-only]
//
// A postgres:// URL runs on the PostgreSQL store (test/cluster/crash.test.ts), its replica in the directory
// named by the environment variable STRATA_CACHE_DIR.
//
// Opens the runtime (resuming whatever the directory committed), sets the programs up if there are none (one
// atomic flush), then runs cycles rt.cycle + 1 .. <cycles>. Each cycle's messages are a pure function of the
// cycle number, so a restarted child re-sends exactly the messages of a cycle that was not committed (their
// nonces were not committed either, so their ids repeat). One JSON line per event on stdout (synchronous on
// Linux pipes, so a line printed is a line the parent sees even if we are killed right after):
//
//   { "open": cycle, "root", "programs" }           after Runtime.open
//   { "setup": root }                                 after the setup flush
//   { "run": c }                                      before cycle c's sends
//   { "cycle": c, "root", "log", "outcomes", "dirtyPlanes", "ms" }  after runCycle resolved (log: sha256 of the
//                                                     cycle's message outcomes, in order)
//   { "done": cycle, "root", "mailboxes", "entries" } at the end (mailboxes: sha256 of every user's mailbox); exit 0
//   { "error": { "code", "message" }, "cycleAfter", "rootAfter", "after", "closed" }  on failure: rt.cycle and
//                                                     rt.stateRoot() after it, what one more runCycle does, and
//                                                     what close does; exit 1
//
// With open-only it prints the open line and closes.
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Runtime } from 'strata-runtime'

const [dir, cyclesArg, streamsArg, mode] = process.argv.slice(2)
const CYCLES = Number(cyclesArg)
const STREAMS = Number(streamsArg)

// Under `ulimit -f` a write past the limit raises SIGXFSZ, which kills by default; ignored, the write fails with
// EFBIG like a full disk would.
process.on('SIGXFSZ', () => undefined)

/** Users that send the cycles' messages (their replies land in their mailboxes). */
const USERS = ['a1'.repeat(32), 'b2'.repeat(32)]
/**
 * Each program has its own creator, so a restarted child finds its programs by their records' creators
 * (programIds() does not list them in creation order). Init replies go to these users' mailboxes.
 */
const CREATORS = { kv: ['c0'.repeat(32), 'c1'.repeat(32), 'c2'.repeat(32)], counter: 'c3'.repeat(32), ping: ['c4'.repeat(32), 'c5'.repeat(32)] }
const GAS = 200_000_000
const KV_INSTANCES = 3
const PUTS_PER_KV = 3
const PING_ROUNDS = 8
/** Value sizes, in characters: VALUE_MIN .. VALUE_MIN + VALUE_SPREAD (1 to 2 planes each). */
const VALUE_MIN = 20_000
const VALUE_SPREAD = 40_000
const program = (name) => fileURLToPath(new URL(`../../programs/${name}.ts`, import.meta.url))
const enc = (value) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const sha256 = (text) => createHash('sha256').update(text).digest('hex')
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)

/** Text to cut values from: built once (values are slices of it, so making one costs next to nothing). */
const TEXT = (() => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-é€ '
  let text = ''
  for (let j = 0; text.length < 200_000; j += 1) text += alphabet[(j * 7 + (j >> 5)) % alphabet.length]
  return text
})()

/** A deterministic value of `length` characters (some multi-byte) for cycle c, instance k, put i. */
function valueFor(c, k, i, length) {
  return `${c}.${k}.${i}:${TEXT.slice((c * 7_919 + k * 104_729 + i * 1_009) % 100_000).slice(0, length)}`
}

/**
 * Cycle c's messages: large puts into every kv store (new keys, so the store grows, plus overwrites of older
 * keys, which free and reallocate), a delete now and then, two counter updates, and the ping-pong start. Every
 * one of them is answered into a user's mailbox.
 */
function messagesOf(c, ids) {
  const out = []
  ids.kv.forEach((kv, k) => {
    for (let i = 0; i < PUTS_PER_KV; i += 1) {
      const key = i === 0 && c > 3 ? `c${c - 3}-0` : `c${c}-${i}` // i = 0 overwrites a key put 3 cycles ago
      const length = VALUE_MIN + ((c * 7_919 + k * 3_571 + i * 1_201) % VALUE_SPREAD)
      out.push({ source: USERS[(c + k + i) % 2], destination: kv, payload: enc({ op: 'put', key, value: valueFor(c, k, i, length) }) })
    }
    if (c % 4 === 0) out.push({ source: USERS[k % 2], destination: kv, payload: enc({ op: 'delete', key: `c${c - 2}-1` }) })
  })
  out.push({ source: USERS[0], destination: ids.counter, payload: enc('inc') })
  out.push({ source: USERS[1], destination: ids.counter, payload: enc(`add:${c}`) })
  if (c === 2) out.push({ source: USERS[0], destination: ids.ping[0], payload: enc({ op: 'start', peer: ids.ping[1], rounds: PING_ROUNDS }) })
  return out
}

function outcomeJson(o) {
  return {
    messageId: o.messageId, origin: o.origin, programId: o.programId, kind: o.kind, result: o.result,
    replyCode: o.replyCode, gasBurned: o.gasBurned, gasRefunded: o.gasRefunded, error: o.error ?? null, logs: o.logs,
  }
}

function mailboxes(rt) {
  const boxes = {}
  let entries = 0
  for (const user of [...USERS, ...CREATORS.kv, CREATORS.counter, ...CREATORS.ping]) {
    boxes[user] = rt.mailbox(user).map(({ message: m, cycle }) => {
      entries += 1
      return {
        cycle, id: m.id, kind: m.kind, source: m.source, replyTo: m.replyTo ?? null, replyCode: m.replyCode ?? null,
        gasLimit: m.gasLimit, payload: sha256(m.payload),
      }
    })
  }
  return { digest: sha256(JSON.stringify(boxes)), entries }
}

async function main() {
  const rt = await Runtime.open(dir === ':memory:' ? { store: 'memory', streams: STREAMS }
    : dir.startsWith('postgres://') ? { store: 'postgres', url: dir, cacheDir: process.env.STRATA_CACHE_DIR, streams: STREAMS }
      : { dataDir: dir, streams: STREAMS, sync: true })
  print({ open: rt.cycle, root: rt.stateRoot(), programs: rt.programIds().length })
  if (mode === 'open-only') {
    await rt.close()
    return
  }
  try {
    if (rt.programIds().length === 0) {
      const kvCode = await rt.uploadCode(program('kv_store'))
      const counterCode = await rt.uploadCode(program('counter'))
      const pingCode = await rt.uploadCode(program('ping_pong'))
      for (let k = 0; k < KV_INSTANCES; k += 1) await rt.createProgram(kvCode, { salt: enc(`kv${k}`), gasLimit: GAS, source: CREATORS.kv[k] })
      await rt.createProgram(counterCode, { salt: enc('counter'), payload: enc('100'), gasLimit: GAS, source: CREATORS.counter })
      await rt.createProgram(pingCode, { salt: enc('ping-a'), gasLimit: GAS, source: CREATORS.ping[0] })
      await rt.createProgram(pingCode, { salt: enc('ping-b'), gasLimit: GAS, source: CREATORS.ping[1] })
      await rt.flush() // setup is atomic: nothing of it is committed before this
      print({ setup: rt.stateRoot() })
    }
    const byCreator = new Map(rt.programIds().map((id) => [rt.program(id).record().creator, id]))
    const ids = { kv: CREATORS.kv.map((c) => byCreator.get(c)), counter: byCreator.get(CREATORS.counter), ping: CREATORS.ping.map((c) => byCreator.get(c)) }
    if (byCreator.size !== 6 || [...ids.kv, ids.counter, ...ids.ping].includes(undefined)) throw new Error('the six programs are not all there')

    let outcomes = []
    rt.on('message', (outcome) => outcomes.push(outcomeJson(outcome)))
    for (let c = rt.cycle + 1; c <= CYCLES; c += 1) {
      print({ run: c })
      for (const m of messagesOf(c, ids)) rt.send({ ...m, gasLimit: GAS })
      outcomes = []
      const report = await rt.runCycle()
      print({ cycle: c, root: report.stateRoot, log: sha256(JSON.stringify(outcomes)), outcomes: outcomes.length, dirtyPlanes: report.dirtyPlanes, failed: report.failed, ms: Math.round(report.ms) })
    }
    const boxes = mailboxes(rt)
    print({ done: rt.cycle, root: rt.stateRoot(), mailboxes: boxes.digest, entries: boxes.entries })
    await rt.close()
  } catch (error) {
    // What the runtime says after the failure: its committed cycle, and what a further cycle does.
    let after
    try {
      await rt.runCycle()
      after = 'ran'
    } catch (again) {
      after = again?.code ?? String(again)
    }
    const cycleAfter = rt.cycle
    const rootAfter = rt.stateRoot()
    let closed = 'ok'
    await rt.close().catch((e) => { closed = e?.code ?? String(e) })
    print({ error: { code: error?.code ?? null, message: String(error?.message ?? error) }, cycleAfter, rootAfter, after, closed })
    process.exitCode = 1
  }
}

main().catch((error) => {
  print({ error: { code: error?.code ?? null, message: String(error?.message ?? error) } })
  process.exitCode = 1
})
