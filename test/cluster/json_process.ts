/**
 * A child process that prints one JSON event per line (`strata node --json`, `strata coordinator --json`, test
 * children): started, its events collected with the time each arrived, and waited on. No test framework here, so
 * that the benches (bench/cluster.bench.ts, bench/failover.bench.ts) share it with the tests (processes.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'

export interface JsonProcess<Event> {
  readonly child: ChildProcess
  readonly events: Event[]
  /** When each event arrived (performance.now() in this process), index for index with `events`. */
  readonly times: number[]
  /** Resolves with the first event (past or future) that `match` accepts. */
  waitFor(match: (event: Event) => boolean, timeoutMs?: number): Promise<Event>
  exited: Promise<number | null>
  /** What it wrote to stderr so far. */
  stderr(): string
  /** Whether it is still running (neither exited nor killed by a signal). */
  alive(): boolean
}

/** `node command ...args`; `onEvent` sees each event as it arrives. */
export function startJsonProcess<Event extends object>(command: string, args: readonly string[],
  onEvent?: (event: Event, process: JsonProcess<Event>) => void): JsonProcess<Event> {
  const child = spawn(process.execPath, [command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const events: Event[] = []
  const times: number[] = []
  const watchers = new Set<() => void>()
  let stderr = ''
  let buffered = ''
  const started: JsonProcess<Event> = {
    child, events, times, stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    waitFor: (match, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const look = (): boolean => {
        const found = events.find(match)
        if (found === undefined) return false
        watchers.delete(check)
        clearTimeout(timer)
        resolve(found)
        return true
      }
      const check = (): void => { look() }
      const timer = setTimeout(() => {
        watchers.delete(check)
        reject(new Error(`no such event within ${timeoutMs} ms; events: ${JSON.stringify(events).slice(-4000)}; stderr: ${stderr.slice(-4000)}`))
      }, timeoutMs)
      if (!look()) watchers.add(check)
    }),
  }
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdout!.on('data', (chunk: Buffer) => {
    const at = performance.now()
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      const event = JSON.parse(line) as Event
      events.push(event)
      times.push(at)
      onEvent?.(event, started)
      for (const watcher of [...watchers]) watcher()
    }
  })
  return started
}

/** Kills it (SIGCONT first, in case it was stopped, then SIGKILL) unless it already ended; resolves once it has. */
export async function killJsonProcess(started: JsonProcess<unknown>): Promise<void> {
  if (started.alive()) {
    started.child.kill('SIGCONT')
    started.child.kill('SIGKILL')
  }
  await started.exited
}
