/**
 * Child processes of the cluster tests (`strata node`, `strata coordinator`, test children) that print one JSON
 * event per line: started, watched (json_process.ts), and killed (SIGCONT then SIGKILL) after each test.
 */
import { afterEach } from 'vitest'
import { killJsonProcess, startJsonProcess, type JsonProcess } from './json_process.js'

export type { JsonProcess } from './json_process.js'

/** `start(command, args, onEvent)` for the enclosing describe block; every process it started is killed after each test. */
export function useProcesses<Event extends object>(): (command: string, args: readonly string[], onEvent?: (event: Event, process: JsonProcess<Event>) => void) => JsonProcess<Event> {
  const running: JsonProcess<Event>[] = []

  afterEach(async () => {
    for (const node of running.splice(0)) await killJsonProcess(node)
  })

  return function start(command, args, onEvent) {
    const node = startJsonProcess(command, args, onEvent)
    running.push(node)
    return node
  }
}
