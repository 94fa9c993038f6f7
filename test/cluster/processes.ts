/**
 * Child processes of the cluster tests (`strata node`, `strata coordinator`, test children) that print one JSON
 * event per line: started, watched, and killed (SIGCONT then SIGKILL) after each test.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach } from 'vitest'

export interface JsonProcess<Event> {
  readonly child: ChildProcess
  readonly events: Event[]
  /** Resolves with the first event (past or future) that `match` accepts. */
  waitFor(match: (event: Event) => boolean, timeoutMs?: number): Promise<Event>
  exited: Promise<number | null>
  /** What it wrote to stderr so far. */
  stderr(): string
}

/** `start(command, args, onEvent)` for the enclosing describe block; every process it started is killed after each test. */
export function useProcesses<Event extends object>(): (command: string, args: readonly string[], onEvent?: (event: Event, process: JsonProcess<Event>) => void) => JsonProcess<Event> {
  const running: JsonProcess<Event>[] = []

  afterEach(async () => {
    for (const node of running.splice(0)) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        node.child.kill('SIGCONT')
        node.child.kill('SIGKILL')
        await node.exited
      }
    }
  })

  return function start(command, args, onEvent) {
    const child = spawn(process.execPath, [command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const events: Event[] = []
    const watchers = new Set<() => void>()
    let stderr = ''
    let buffered = ''
    const node: JsonProcess<Event> = {
      child, events, stderr: () => stderr,
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
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) {
        const event = JSON.parse(line) as Event
        events.push(event)
        onEvent?.(event, node)
        for (const watcher of [...watchers]) watcher()
      }
    })
    running.push(node)
    return node
  }
}
