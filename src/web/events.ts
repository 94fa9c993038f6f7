/**
 * The /api/events streams (Server-Sent Events), written by hand on the raw response: `event: NAME` and one
 * `data:` line of JSON per event, a comment line as heartbeat. A client that stops reading is dropped once
 * SSE_BUFFER_MAX_BYTES are buffered for it; it can reconnect and start again from the status it gets.
 */
import type { ServerResponse } from 'node:http'
import { HttpError, ServeErrorCode } from './errors.js'
import { SSE_BUFFER_MAX_BYTES, SSE_HEARTBEAT_MS, SSE_STREAMS_MAX } from './limits.js'
import { SECURITY_HEADERS } from './security.js'

export class EventHub {
  readonly #streams = new Set<ServerResponse>()
  readonly #heartbeat: NodeJS.Timeout

  constructor() {
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), SSE_HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  get size(): number {
    return this.#streams.size
  }

  /** Takes over `res` as an event stream and sends it `first` (name and data); TOO_MANY_STREAMS past the limit. */
  open(res: ServerResponse, first: { readonly event: string; readonly data: unknown }): void {
    if (this.#streams.size >= SSE_STREAMS_MAX) {
      throw new HttpError(503, ServeErrorCode.TOO_MANY_STREAMS, `${SSE_STREAMS_MAX} event streams are open already; close one`)
    }
    // Idle by design between cycles: the heartbeat proves the client is there, not the socket timeout.
    res.socket?.setTimeout(0)
    res.writeHead(200, {
      ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no',
    })
    this.#streams.add(res)
    res.on('close', () => this.#streams.delete(res))
    this.#send(res, frame(first.event, first.data))
  }

  /** Sends an event to every stream. */
  broadcast(event: string, data: unknown): void {
    if (this.#streams.size > 0) this.#write(frame(event, data))
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    clearInterval(this.#heartbeat)
    for (const res of this.#streams) res.end()
    this.#streams.clear()
  }

  #write(text: string): void {
    for (const res of this.#streams) this.#send(res, text)
  }

  #send(res: ServerResponse, text: string): void {
    if (res.writableLength > SSE_BUFFER_MAX_BYTES) {
      this.#streams.delete(res)
      res.destroy()
      return
    }
    res.write(text)
  }
}

/** JSON.stringify never emits a raw newline, so one `data:` line carries the whole event. */
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
