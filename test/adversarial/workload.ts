// The adversarial workload: every attack program next to its victims, driven through the public API only.
// It runs in this process (tests pass the Runtime class from src/) and in a child process with another time zone
// and locale (child.ts, which gets the Runtime from the built package): every run must give the same result.
import type { ClusterClient, Runtime as RuntimeClass, RuntimeOptions } from '../../src/index.js'
import { COMMANDS as RUNAWAY, COVERED } from '../fixtures/programs/attacks/runaway.js'

export const ATTACKER = 'a7'.repeat(32)
export const VICTIM_USER = 'b8'.repeat(32)
const FIXTURES = 'test/fixtures/programs/attacks'

/** One message of the workload: `tag` names it in the result. */
interface Step {
  readonly tag: string
  readonly program: string
  readonly text: string
  readonly gas: number
  readonly source?: string
}

/** Programs by name: file and salt. */
export const PROGRAMS: Record<string, { file: string; salt: string }> = {
  escape: { file: `${FIXTURES}/escape.ts`, salt: 'e' },
  forge: { file: `${FIXTURES}/forge.ts`, salt: 'f' },
  polluter: { file: `${FIXTURES}/pollute.ts`, salt: 'p0' },
  sameCodeVictim: { file: `${FIXTURES}/pollute.ts`, salt: 'p1' },
  lying: { file: `${FIXTURES}/lying.ts`, salt: 'l' },
  environment: { file: `${FIXTURES}/environment.ts`, salt: 'env' },
  runaway: { file: `${FIXTURES}/runaway.ts`, salt: 'r' },
  hangs: { file: `${FIXTURES}/hangs.ts`, salt: 'h' },
  realm: { file: `${FIXTURES}/realm.ts`, salt: 'g' },
  realmSameCode: { file: `${FIXTURES}/realm.ts`, salt: 'g2' },
  codec: { file: `${FIXTURES}/codec.ts`, salt: 'x1' },
  codecSameCodeVictim: { file: `${FIXTURES}/codec.ts`, salt: 'x2' },
  codecLiar: { file: `${FIXTURES}/codec.ts`, salt: 'x3' },
  counter: { file: 'programs/counter.ts', salt: 'c' },
}

const GAS = 20_000_000

/** Rounds of messages; each round is one cycle (its messages run in the same cycle, in this order). */
export const ROUNDS: readonly (readonly Step[])[] = [
  [
    { tag: 'escape', program: 'escape', text: 'probe', gas: GAS },
    { tag: 'pollute', program: 'polluter', text: 'pollute', gas: GAS },
    { tag: 'check same cycle', program: 'sameCodeVictim', text: 'check', gas: GAS },
    { tag: 'count 1', program: 'polluter', text: 'count', gas: GAS },
    { tag: 'counter 1', program: 'counter', text: 'inc', gas: GAS, source: VICTIM_USER },
    ...['mutate ctx', 'mint gas', 'give more than left', 'catch wait', 'finally after wait', 'catch out of gas',
      'finally after out of gas', 'reply twice', 'effects from a state getter after wait', 'thenable']
      .map((text) => ({ tag: `forge ${text}`, program: 'forge', text, gas: GAS })),
    ...['store', 'big payload', 'big subclass payload', 'fake bytes'].map((text) => ({ tag: `lying ${text}`, program: 'lying', text, gas: GAS })),
    { tag: 'environment 1', program: 'environment', text: '', gas: GAS },
    { tag: 'realm globals', program: 'realm', text: 'globals', gas: GAS },
    { tag: 'realm regexp write', program: 'realm', text: 'regexp secret-of-one-program', gas: GAS },
    { tag: 'realm regexp read same cycle', program: 'realmSameCode', text: 'regexp other', gas: GAS },
    { tag: 'realm getYear', program: 'realm', text: 'getYear', gas: GAS },
    { tag: 'realm plant on the RE2 prototype', program: 'realm', text: 'plant on the RE2 prototype', gas: GAS },
    { tag: 'realm deep through replace', program: 'realm', text: 'deep through replace', gas: GAS },
    { tag: 'realm wide 60', program: 'realm', text: 'wide 60', gas: GAS },
    { tag: 'realm wide 1000', program: 'realm', text: 'wide 1000', gas: GAS },
    ...['getter on a thrown value', 'getter on a thrown name', 'getter on then', 'getter in state', 'toJSON in state', 'promise',
      'console with getters'].map((text) => ({ tag: `hangs ${text}`, program: 'hangs', text, gas: GAS })),
    // The shared state codec: the attacker's failures sit between the same-code victim's saves, in one cycle.
    { tag: 'codec victim save 1', program: 'codecSameCodeVictim', text: 'save 1', gas: GAS },
    { tag: 'codec getter throws after growing', program: 'codec', text: 'getter throws after growing', gas: GAS },
    { tag: 'codec victim save 2', program: 'codecSameCodeVictim', text: 'save 2', gas: GAS },
    { tag: 'codec getter out of gas after growing', program: 'codec', text: 'getter out of gas after growing', gas: 5_000_000 },
    { tag: 'codec victim read same cycle', program: 'codecSameCodeVictim', text: 'read', gas: GAS },
    { tag: 'codec getter mutates state while encoded', program: 'codec', text: 'getter mutates state while encoded', gas: GAS },
    { tag: 'codec send boundaries', program: 'codec', text: 'send boundaries', gas: GAS },
    { tag: 'codec surrogates in logs and errors', program: 'codec', text: 'surrogates in logs and errors', gas: GAS },
    { tag: 'codec save n', program: 'codecLiar', text: 'lie in the state header', gas: GAS },
    { tag: 'codec fill the journal', program: 'codec', text: 'fill the journal', gas: 200_000_000 },
  ],
  [
    { tag: 'check next cycle', program: 'sameCodeVictim', text: 'check', gas: GAS },
    { tag: 'count 2', program: 'polluter', text: 'count', gas: GAS },
    { tag: 'counter 2', program: 'counter', text: 'inc', gas: GAS, source: VICTIM_USER },
    { tag: 'lying read', program: 'lying', text: 'read', gas: GAS },
    { tag: 'environment 2', program: 'environment', text: '', gas: GAS },
    { tag: 'realm globals after a write', program: 'realmSameCode', text: 'globals', gas: GAS },
    { tag: 'realm regexp read next cycle', program: 'realm', text: 'regexp again', gas: GAS },
    { tag: 'codec victim read next cycle', program: 'codecSameCodeVictim', text: 'read', gas: GAS },
    { tag: 'codec read after mutation', program: 'codec', text: 'read', gas: GAS },
    { tag: 'codec corrupt header', program: 'codecLiar', text: 'corrupt header', gas: GAS },
    ...[...RUNAWAY, ...COVERED].map((text) => ({ tag: `runaway ${text}`, program: 'runaway', text, gas: GAS })),
  ],
  [
    { tag: 'forge exit then send', program: 'forge', text: 'exit then send', gas: GAS },
    { tag: 'codec read after corruption', program: 'codecLiar', text: 'read after corruption', gas: GAS },
    { tag: 'counter 3', program: 'counter', text: 'inc', gas: GAS, source: VICTIM_USER },
  ],
]

export interface Observed {
  readonly result: string
  readonly replyCode: number | null
  readonly gasBurned: number
  readonly gasRefunded: number
  readonly error?: string
  /** What the program logged (console), as the message event reports it. */
  readonly logs: readonly string[]
  /** The text of the reply that reached the sender's mailbox, if any. */
  readonly reply?: string
  /** Messages this one emitted that reached a mailbox (other than its reply). */
  readonly sent: readonly string[]
}

export interface WorkloadResult {
  readonly roots: readonly string[]
  readonly observed: Readonly<Record<string, Observed>>
}

export interface WorkloadOptions {
  /** Close and reopen the runtime (LMDB) before every round, with these options. */
  readonly reopen?: boolean
  /**
   * Send every round's messages through a cluster's inbox (a ClusterClient of the runtime's database) instead of
   * `Runtime.send`: the coordinator takes them at its next cycle, and their ids come from `status`.
   */
  readonly inbox?: Pick<ClusterClient, 'sendAll' | 'status'>
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

export async function runWorkload(
  Runtime: typeof RuntimeClass, options: RuntimeOptions, workload: WorkloadOptions = {},
): Promise<WorkloadResult> {
  let rt = await Runtime.open(options)
  try {
    const codes = new Map<string, string>()
    const ids: Record<string, string> = {}
    for (const [name, { file, salt }] of Object.entries(PROGRAMS)) {
      if (!codes.has(file)) codes.set(file, await rt.uploadCode(file))
      ids[name] = await rt.createProgram(codes.get(file)!, { salt: encode(salt), gasLimit: GAS, source: ATTACKER })
    }
    await rt.runUntilIdle()
    const roots: string[] = [rt.stateRoot()]
    const byId = new Map<string, { tag: string; source: string }>()
    const outcomes = new Map<string, Omit<Observed, 'reply' | 'sent'>>()
    const listen = (): void => {
      // By id: a send through the inbox learns its id only after the cycle that ran it.
      rt.on('message', (o) => {
        outcomes.set(o.messageId, {
          result: o.result, replyCode: o.replyCode, gasBurned: o.gasBurned, gasRefunded: o.gasRefunded,
          ...(o.error !== undefined ? { error: o.error } : {}), logs: [...o.logs],
        })
      })
    }
    listen()
    for (const round of ROUNDS) {
      if (workload.reopen === true) {
        const root = rt.stateRoot()
        await rt.close()
        rt = await Runtime.open(options)
        if (rt.stateRoot() !== root) throw new Error('reopening changed the state root')
        listen()
      }
      const inputs = round.map((step) => ({ source: step.source ?? ATTACKER, destination: ids[step.program]!, payload: encode(step.text), gasLimit: step.gas }))
      if (workload.inbox === undefined) {
        round.forEach((step, i) => byId.set(rt.send(inputs[i]!), { tag: step.tag, source: inputs[i]!.source }))
        await rt.runCycle()
      } else {
        const seqs = await workload.inbox.sendAll(inputs)
        await rt.runCycle()
        for (const [i, step] of round.entries()) {
          const status = await workload.inbox.status(seqs[i]!)
          if (status.state !== 'taken') throw new Error(`inbox entry ${seqs[i]} (${step.tag}) is ${JSON.stringify(status)} after the cycle`)
          byId.set(status.messageId, { tag: step.tag, source: inputs[i]!.source })
        }
      }
      roots.push(rt.stateRoot())
    }
    // Waiting messages time out, delayed ones arrive: run until nothing is left.
    for (const report of await rt.runUntilIdle({ maxCycles: 50 })) roots.push(report.stateRoot)
    const observed: Record<string, Observed> = {}
    const mailboxes = [ATTACKER, VICTIM_USER, 'ab'.repeat(32)].map((user) => rt.mailbox(user))
    for (const [id, { tag }] of byId) {
      const outcome = outcomes.get(id)
      const replies = mailboxes.flat().filter((e) => e.message.replyTo === id)
      const sent = mailboxes.flat().filter((e) => e.message.kind === 'handle' && e.message.origin === id).map((e) => decode(e.message.payload))
      observed[tag] = {
        ...(outcome ?? { result: 'missing', replyCode: null, gasBurned: 0, gasRefunded: 0, logs: [] }),
        ...(replies.length > 0 ? { reply: decode(replies[0]!.message.payload) } : {}),
        sent,
      }
    }
    return { roots, observed }
  } finally {
    await rt.close()
  }
}
