/**
 * The commands that work on an existing data directory (run, send, query, prove) and `verify`, which needs
 * none. `inspect` is in inspect.ts, `demo` in demo.ts.
 */
import { readFileSync, statSync } from 'node:fs'
import { MESSAGE_GAS_LIMIT_MAX, NODES_MAX, PLANES_PER_REGION_MAX, REGION_COUNT_MAX, STREAMS_MAX } from '../constants.js'
import { PROOF_JSON_MAX_CHARS, PROOF_RANGE_MAX_BYTES } from '../merkle/index.js'
import { verifyProof } from '../merkle/index.js'
import { formatAddress } from '../memory/index.js'
import { isErrorReply, replyCodeName } from '../message/index.js'
import { CliError, address, hexId, integer, payload, usageError, type Args, type Command } from './args.js'
import { PLACE_HELP, PLACE_OPTION, interruptible, placeOf, programArg, resolveProgram, runtimeModule, withReader, withRuntime } from './data.js'
import { CYCLE_HEADER, CycleLog, hex, plural, showBytes, streamsText, utf8, type Out } from './output.js'

/** Cycles `strata run` runs at most when it runs until idle. */
export const RUN_UNTIL_IDLE_MAX = 1000
/** The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130
/** How long `send --url --wait` waits for a coordinator to take the message. */
export const SEND_WAIT_MS_MAX = 60_000
/** The gas limit of `strata send` without --gas. */
export const SEND_GAS_DEFAULT = 10_000_000

const MESSAGE_OPTIONS = {
  ...PLACE_OPTION, payload: { type: 'string' }, text: { type: 'string' }, gas: { type: 'string' }, from: { type: 'string' },
} as const

const MESSAGE_HELP = `  --payload HEX|@FILE  the payload: hex bytes (0x optional; "" for none), or a file's bytes
  --text STRING        the payload as UTF-8 text instead
  --from USER          the sending user, 64 hex digits (default: DEFAULT_USER_ID, the user that creates programs)`


/** The sender of `send` and `query`: --from, else the runtime's default user. */
async function sender(args: Args): Promise<string> {
  const from = args.string('from')
  return from === undefined ? (await runtimeModule()).DEFAULT_USER_ID : hexId(from, '--from')
}

export const run: Command = {
  name: 'run',
  usage: 'strata run [--data DIR | --url URL [--cache DIR] [--nodes N]] [--cycles N] [--streams N]',
  about: 'run cycles on a data directory: N of them, or until idle',
  help: `Runs cycles on an existing data directory and prints one line per cycle and a summary.
Without --cycles it runs until nothing is queued, waiting or delayed (at most ${RUN_UNTIL_IDLE_MAX} cycles);
with --cycles N it runs exactly N cycles, even empty ones (they advance delayed messages and wait timeouts).
Ctrl-C stops it after the current cycle (exit status ${EXIT_INTERRUPTED}); every cycle run is committed.

${PLACE_HELP}
  --cycles N           run exactly N cycles (1..1000000)
  --streams N          parallel streams (0..${STREAMS_MAX}; default one per core, 0 = this thread)
  --nodes N            with --url: run each cycle's N streams on \`strata node --stream K\` processes (1..${NODES_MAX});
                       a stream no live node holds runs here (docs/cluster.md)`,
  options: { ...PLACE_OPTION, cycles: { type: 'string' }, streams: { type: 'string' }, nodes: { type: 'string' } },
  async run(args, out) {
    args.expect(0, 0, 'no positional arguments')
    const place = await placeOf(args)
    const cycles = args.integer('cycles', undefined, 1, 1_000_000)
    const streams = args.integer('streams', undefined, 0, STREAMS_MAX)
    const nodes = args.integer('nodes', undefined, 1, NODES_MAX)
    if (nodes !== undefined && place.url === undefined) throw usageError('run: --nodes applies to --url (a cluster on PostgreSQL)')
    if (nodes !== undefined && streams !== undefined) throw usageError('run: --nodes N runs N streams, one per node; leave out --streams')
    const opened = nodes === undefined ? place : { ...place, options: { ...place.options, nodes } }
    return withRuntime(opened, streams, async (rt) => {
      const fromCycle = rt.cycle
      const log = new CycleLog(out, cycles)
      let interrupted = false
      // Why messages failed or were refused: their error replies, counted by reply code name.
      const failures: Record<string, number> = {}
      const countFailure = (outcome: { replyCode: number | null }): void => {
        if (outcome.replyCode === null || !isErrorReply(outcome.replyCode)) return
        const name = replyCodeName(outcome.replyCode)
        failures[name] = (failures[name] ?? 0) + 1
      }
      out.line(`${place.label}: cycle ${fromCycle}, ${plural(rt.queueLength, 'message')} queued; running ` +
        `${cycles === undefined ? `until idle (at most ${RUN_UNTIL_IDLE_MAX} cycles)` : plural(cycles, 'cycle')} on ${streamsText(rt.streams)}`)
      if (cycles === undefined && rt.idle) {
        out.line('nothing to run: no message is queued, waiting or delayed')
      } else {
        out.line('')
        out.line(CYCLE_HEADER)
        rt.on('cycle', log.onCycle)
        rt.on('message', countFailure)
        try {
          interrupted = await interruptible(async (stopped) => {
            for (let i = 0; cycles === undefined ? i < RUN_UNTIL_IDLE_MAX && !rt.idle : i < cycles; i += 1) {
              if (await stopped()) return true
              await rt.runCycle()
            }
            return false
          })
        } finally {
          rt.off('cycle', log.onCycle)
          rt.off('message', countFailure)
          log.done()
        }
        out.line('')
      }
      const sum = (key: 'processed' | 'failed' | 'gasBurned'): number => log.reports.reduce((total, r) => total + r[key], 0)
      out.line(`${interrupted ? 'interrupted: ' : ''}ran ${plural(log.reports.length, 'cycle')}${log.reports.length > 0 ? ` (${fromCycle + 1}..${rt.cycle})` : ''}: ` +
        `${plural(sum('processed'), 'message')}, ${sum('failed')} failed, ${sum('gasBurned')} gas burned`)
      const reasons = Object.entries(failures).sort(([a], [b]) => a.localeCompare(b))
      if (reasons.length > 0) {
        out.line(`error replies by code: ${reasons.map(([name, count]) => `${count} ${name}`).join(', ')} (\`strata mailbox\` shows the replies)`)
      }
      out.line(`state root ${rt.stateRoot()} at cycle ${rt.cycle}; ${plural(rt.queueLength, 'message')} queued; ${rt.idle ? 'idle' : 'not idle'}`)
      out.result({
        ...place.json, fromCycle, cycle: rt.cycle, stateRoot: rt.stateRoot(), queueLength: rt.queueLength, idle: rt.idle,
        interrupted, cycles: log.reports, failures: Object.fromEntries(reasons),
      })
      return interrupted ? EXIT_INTERRUPTED : 0
    })
  },
}

export const send: Command = {
  name: 'send',
  usage: 'strata send [--data DIR | --url URL [--wait]] --to PROGRAM (--payload HEX|@FILE | --text STRING) [--gas N] [--from USER]',
  about: 'enqueue a message to a program (it runs in the next cycle)',
  help: `Enqueues a message from a user to a program and makes it durable; the next \`strata run\` delivers it.
Replies go to the user's mailbox.

With --url (a cluster on PostgreSQL) the message goes into the database's inbox, durable once this command
says so, and a coordinator (\`strata coordinator\`, \`strata run --url\`) takes it into its next cycle; the
message id is given then, and --wait waits for it.

${PLACE_HELP}
  --to PROGRAM         the program: its id in full (with --url), or a unique prefix of at least 4 hex digits
${MESSAGE_HELP}
  --gas N              the message's gas limit (default ${SEND_GAS_DEFAULT.toLocaleString('en-US')}; at most ${MESSAGE_GAS_LIMIT_MAX})
  --wait               with --url: wait (up to ${SEND_WAIT_MS_MAX / 1000} s) until a coordinator took the message, and print its id`,
  options: { ...MESSAGE_OPTIONS, to: { type: 'string' }, wait: { type: 'boolean' } },
  async run(args, out) {
    args.expect(0, 0, 'no positional arguments (the program goes in --to)')
    // Every argument is checked before the data directory is opened.
    const wait = args.flag('wait')
    if (wait && args.string('url') === undefined) throw usageError('send: --wait applies to --url (a cluster\'s inbox)')
    if (args.string('url') !== undefined && args.string('cache') !== undefined) {
      throw usageError('send: --cache does not apply: with --url the message goes into the cluster\'s inbox, and send keeps no replica')
    }
    const place = await placeOf(args)
    const to = programArg(args.required('to', 'PROGRAM'))
    const bytes = payload(args)
    const gasLimit = args.integer('gas', SEND_GAS_DEFAULT, 0, MESSAGE_GAS_LIMIT_MAX)
    const source = await sender(args)
    if (place.url !== undefined) return sendToInbox(place.url, place.label, { source, destination: to, payload: bytes, gasLimit }, wait, out)
    return withRuntime(place, 0, async (rt) => {
      const destination = resolveProgram(rt, to, place.label)
      const warning = unavailable(rt.program(destination).record().status)
      const messageId = rt.send({ source, destination, payload: bytes, gasLimit })
      await rt.flush()
      if (warning !== undefined) process.stderr.write(`strata: warning: program ${destination} ${warning}\n`)
      out.line(`queued message ${messageId}`)
      out.line(`  from ${source} to ${destination}, ${plural(bytes.length, 'byte')}, gas limit ${gasLimit}`)
      out.line(`  ${plural(rt.queueLength, 'message')} queued; it runs in cycle ${rt.cycle + 1} or later (\`strata run\`)`)
      out.result({
        messageId, source, destination, payload: hex(bytes), gasLimit, queueLength: rt.queueLength, cycle: rt.cycle,
        ...(warning !== undefined ? { warning: `program ${destination} ${warning}` } : {}),
      })
      return 0
    })
  },
}

/** How often it looks meanwhile. */
const SEND_WAIT_POLL_MS = 50

/** `send --url`: into the cluster's inbox (durable when this returns), and with --wait, until a coordinator took it. */
async function sendToInbox(url: string, label: string, input: { source: string; destination: string; payload: Uint8Array; gasLimit: number }, wait: boolean, out: Out): Promise<number> {
  const { openClusterClient } = await import('../cluster/index.js')
  const client = await openClusterClient({ url })
  try {
    // A prefix, resolved against the committed programs as `--data` resolves it against the runtime's.
    const matches = await client.programsStartingWith(input.destination, 2)
    if (matches.length !== 1) {
      throw new CliError('UNKNOWN_PROGRAM', matches.length === 0 ? `no program ${input.destination} in ${label}`
        : `program prefix ${input.destination} is ambiguous in ${label} (${matches.join(', ')}, ...); give more digits`)
    }
    const destination = matches[0]!
    input = { ...input, destination }
    const { seq } = await client.send(input)
    let status = await client.status(seq)
    for (const started = Date.now(); wait && status.state === 'pending' && Date.now() - started < SEND_WAIT_MS_MAX;) {
      await new Promise((resolve) => setTimeout(resolve, SEND_WAIT_POLL_MS))
      status = await client.status(seq)
    }
    const fields = { database: label, seq, source: input.source, destination: input.destination, payload: hex(input.payload), gasLimit: input.gasLimit }
    if (status.state === 'taken') {
      out.line(`queued message ${status.messageId}`)
      out.line(`  from ${input.source} to ${input.destination}, ${plural(input.payload.length, 'byte')}, gas limit ${input.gasLimit}`)
      out.line(`  taken from ${label}'s inbox (entry ${seq}) by commit ${status.commit}`)
      out.result({ ...fields, state: 'taken', messageId: status.messageId, commit: status.commit })
      return 0
    }
    if (status.state === 'refused') throw new CliError('REFUSED', `the coordinator refused inbox entry ${seq}: ${status.error}`)
    out.line(`accepted into ${label}'s inbox as entry ${seq} (durable); a coordinator's next cycle takes it`
      + (wait ? ` (none took it within ${SEND_WAIT_MS_MAX / 1000} s)` : ''))
    out.line(`  from ${input.source} to ${input.destination}, ${plural(input.payload.length, 'byte')}, gas limit ${input.gasLimit}`)
    out.result({ ...fields, state: 'pending' })
    return 0
  } finally {
    await client.close()
  }
}

export const query: Command = {
  name: 'query',
  usage: 'strata query [--data DIR | --url URL [--cache DIR]] PROGRAM (--payload HEX|@FILE | --text STRING) [--gas N] [--from USER]',
  about: "run a program's handle read-only and print its reply (changes nothing)",
  help: `Runs the program's handle on the payload against its committed state, read-only, and prints the reply:
its reply code, payload, gas burned and logs. Nothing is stored. Exits 1 when the reply is an error reply.

${PLACE_HELP}
  PROGRAM              the program: its id, or a unique prefix of at least 4 hex digits
${MESSAGE_HELP}
  --gas N              the gas limit (default: the runtime's query limit)`,
  options: MESSAGE_OPTIONS,
  async run(args, out) {
    const [raw] = args.expect(1, 1, 'PROGRAM')
    const place = await placeOf(args)
    const program = programArg(raw!)
    const bytes = payload(args)
    const gasLimit = args.integer('gas', undefined, 0, MESSAGE_GAS_LIMIT_MAX)
    const source = await sender(args)
    return withReader(place, async (rt) => {
      const programId = resolveProgram(rt, program, place.label)
      const result = await rt.query(programId, bytes, { source, ...(gasLimit !== undefined ? { gasLimit } : {}) })
      const code = result.replyCode
      const name = code === null ? 'NO_REPLY' : replyCodeName(code)
      out.line(code === null ? 'no reply (the handler waited)' : `reply 0x${code.toString(16).padStart(2, '0')} ${name}: ${showBytes(result.payload)}`)
      out.line(`gas burned ${result.gasBurned}`)
      for (const log of result.logs) out.line(`log: ${log}`)
      if (result.error !== undefined) out.line(`error: ${result.error}`)
      const text = utf8(result.payload)
      out.result({
        programId, replyCode: code, replyCodeName: name, payload: hex(result.payload),
        ...(text !== undefined ? { text } : {}), gasBurned: result.gasBurned, logs: result.logs,
        ...(result.error !== undefined ? { error: result.error } : {}),
      })
      if (code === null || isErrorReply(code)) {
        throw new CliError(name, `query of ${programId} failed${result.error !== undefined ? `: ${result.error}` : ''}`, 1)
      }
      return 0
    })
  },
}

/** Mailbox entries `strata mailbox` prints without --all: the newest. */
export const MAILBOX_SHOWN_DEFAULT = 20
/** Payload bytes shown per entry in the human listing (--json has them all). */
const PAYLOAD_PREVIEW_BYTES = 64

export const mailbox: Command = {
  name: 'mailbox',
  usage: 'strata mailbox [--data DIR | --url URL [--cache DIR]] [USER] [--all]',
  about: "a user's mailbox: replies and messages programs sent to the user, newest last",
  help: `Lists what programs sent to a user: replies (with their reply code by name, and the message they answer)
and plain messages, with a preview of each payload. Failed messages are answered with an error reply here, so this
is where a failure's reason shows. The store keeps the newest entries of each mailbox (docs/architecture.md).

${PLACE_HELP}
  USER                 the user, 64 hex digits (default: DEFAULT_USER_ID, the user that creates programs)
  --all                every entry kept, not only the newest ${MAILBOX_SHOWN_DEFAULT}`,
  options: { ...PLACE_OPTION, all: { type: 'boolean' } },
  async run(args, out) {
    const [raw] = args.expect(0, 1, '[USER]')
    const place = await placeOf(args)
    const userId = raw === undefined ? (await runtimeModule()).DEFAULT_USER_ID : hexId(raw, 'USER')
    const all = args.flag('all')
    return withReader(place, async (rt) => {
      const entries = rt.mailbox(userId)
      const shown = all ? entries : entries.slice(-MAILBOX_SHOWN_DEFAULT)
      out.line(`mailbox of ${userId}: ${plural(entries.length, 'entry', 'entries')}${shown.length < entries.length ? `, the newest ${shown.length} shown (--all for every one)` : ''}`)
      for (const { message, cycle } of shown) {
        const preview = showBytes(message.payload.subarray(0, PAYLOAD_PREVIEW_BYTES)) + (message.payload.length > PAYLOAD_PREVIEW_BYTES ? ` (${message.payload.length} bytes)` : '')
        const what = message.replyCode === undefined ? 'message' : `reply 0x${message.replyCode.toString(16).padStart(2, '0')} ${replyCodeName(message.replyCode)}`
        out.line(`  cycle ${cycle}  from ${message.source.slice(0, 8)}  ${what}${message.replyTo !== undefined ? ` to ${message.replyTo.slice(0, 8)}` : ''}: ${preview}`)
      }
      out.result({
        userId, count: entries.length,
        entries: shown.map(({ message, cycle }) => {
          const text = utf8(message.payload)
          return {
            cycle, messageId: message.id, kind: message.kind, source: message.source,
            ...(message.replyTo !== undefined ? { replyTo: message.replyTo } : {}),
            ...(message.replyCode !== undefined ? { replyCode: message.replyCode, replyCodeName: replyCodeName(message.replyCode) } : {}),
            payload: hex(message.payload), ...(text !== undefined ? { text } : {}),
          }
        }),
      })
      return 0
    })
  },
}

/** Why a message to a program in this status cannot run, or undefined when it can. */
function unavailable(status: string): string | undefined {
  if (status === 'exited') return 'has exited: the message will be answered with PROGRAM_EXITED'
  if (status === 'init_failed') return 'failed its init: the message will be answered with PROGRAM_INIT_FAILED'
  return undefined
}

/** `strata prove PROGRAM state 16`: the address of the program's ctx.state header, from its record. */
const STATE_ADDRESS_WORD = 'state'

export const prove: Command = {
  name: 'prove',
  usage: 'strata prove [--data DIR | --url URL [--cache DIR]] PROGRAM ADDRESS LENGTH > proof.json\n       strata prove [--data DIR | --url URL [--cache DIR]] --absent PROGRAM REGION PLANE > proof.json',
  about: "a proof of LENGTH bytes of a program's memory (or that a plane is absent) under the current state root",
  help: `Writes to stdout a proof (JSON, docs/merkle.md) that LENGTH bytes at ADDRESS of the program's memory are
what they are under the data directory's current state root. The range must lie inside one live allocation
(\`strata inspect PROGRAM\` lists them). With --absent, a proof that plane (REGION, PLANE) of the program holds
no data (reads as zeros); a plane that holds data is PLANE_PRESENT. Check either with \`strata verify\`. --json
changes nothing: the proof is JSON already.

${PLACE_HELP}
  PROGRAM              the program: its id, or a unique prefix of at least 4 hex digits
  ADDRESS              a packed address (decimal or 0x hex), or region:plane:offset, or "(r, p, o)", or
                       "state": where the program's ctx.state header is (16 bytes; its record's stateAddress)
  LENGTH               bytes to prove, 1..${PROOF_RANGE_MAX_BYTES}
  --absent             prove that a plane is absent: REGION (0..${REGION_COUNT_MAX - 1}) and PLANE (0..${PLANES_PER_REGION_MAX - 1})
                       instead of ADDRESS and LENGTH`,
  options: { ...PLACE_OPTION, absent: { type: 'boolean' } },
  async run(args) {
    const absent = args.flag('absent')
    const [raw, first, second] = args.expect(3, 3, absent ? 'PROGRAM REGION PLANE' : 'PROGRAM ADDRESS LENGTH')
    const place = await placeOf(args)
    const program = programArg(raw!)
    // Both numbers are checked before the data directory is opened ('state' is looked up in the program's record).
    const stateHeader = !absent && first === STATE_ADDRESS_WORD
    const a = absent ? integer(first!, 'REGION', 0, REGION_COUNT_MAX - 1) : stateHeader ? 0 : address(first!, 'ADDRESS')
    const b = absent ? integer(second!, 'PLANE', 0, PLANES_PER_REGION_MAX - 1) : integer(second!, 'LENGTH', 1, PROOF_RANGE_MAX_BYTES)
    return withReader(place, async (rt) => {
      const programId = resolveProgram(rt, program, place.label)
      let start = a
      if (stateHeader) {
        const { stateAddress } = rt.program(programId).record()
        if (stateAddress === null) throw new CliError('NO_STATE', `program ${programId} has not saved ctx.state yet: it has no state header`)
        start = stateAddress
      }
      const proof = absent ? await rt.proveAbsence(programId, a, b) : await rt.prove(programId, start, b)
      process.stdout.write(`${JSON.stringify(proof, null, 1)}\n`)
      return 0
    })
  },
}

export const verify: Command = {
  name: 'verify',
  usage: 'strata verify PROOF.json [--root HEX]',
  about: 'check a proof file (needs no data directory)',
  help: `Checks a proof file (docs/merkle.md, "Proof JSON") against a state root, needing nothing else. With
--root it checks against that root, the one you trust. Without it, against the root the proof itself names:
that shows the proof is consistent, not that the root is the right one. Exits 1 (PROOF_REJECTED) when the
proof does not verify, 2 (BAD_PROOF_FILE) when the file cannot be read as JSON.

  --root HEX           the state root to check against (64 hex digits)`,
  options: { root: { type: 'string' } },
  async run(args, out) {
    const [file] = args.expect(1, 1, 'PROOF.json')
    const given = args.string('root')
    const root = given === undefined ? undefined : hexId(given, '--root')
    const proof = readProof(file!)
    const carried = (proof as { stateRoot?: unknown } | null)?.stateRoot
    const expected = root ?? (typeof carried === 'string' ? carried : undefined)
    if (expected === undefined) throw new CliError('PROOF_REJECTED', `proof ${file} names no stateRoot; pass --root HEX`, 1)
    const result = verifyProof(expected, proof)
    if (!result.ok) throw new CliError('PROOF_REJECTED', `proof ${file} rejected: ${result.reason}`, 1)
    const against = root === undefined ? 'the root it carries' : 'root'
    if (result.kind === 'range') {
      out.line(`proof verified: ${plural(result.length, 'byte')} at ${formatAddress(result.address)} of program ${result.programId} ` +
        `under ${against} ${result.stateRoot}`)
      out.line(`data: ${showBytes(result.data)}`)
    } else {
      out.line(`proof verified: plane (${result.region}, ${result.plane}) of program ${result.programId} is absent (reads as zeros) ` +
        `under ${against} ${result.stateRoot}`)
    }
    if (root === undefined) out.line('(no --root: this shows the proof is consistent; pass --root HEX to check it against a root you trust)')
    const { ok, kind, programId, codeId, status, memoryRoot, stateRoot } = result
    out.result({
      ok, kind, rootGiven: root !== undefined, stateRoot, programId, codeId, status, memoryRoot,
      ...(result.kind === 'range'
        ? { address: result.address, length: result.length, data: hex(result.data), allocation: result.allocation }
        : { planeKey: result.planeKey, region: result.region, plane: result.plane }),
    })
    return 0
  },
}

/** A proof file's JSON: unreadable, oversized or not JSON is BAD_PROOF_FILE. */
function readProof(file: string): unknown {
  try {
    if (statSync(file).size > PROOF_JSON_MAX_CHARS) throw new Error(`over ${PROOF_JSON_MAX_CHARS} bytes`)
    return JSON.parse(readFileSync(file, 'utf8')) as unknown
  } catch (error) {
    throw new CliError('BAD_PROOF_FILE', `cannot read proof ${JSON.stringify(file)}: ${(error as Error).message}`)
  }
}
