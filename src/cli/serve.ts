/**
 * `strata serve`: the web inspector (docs/inspector.md) on a data directory, until SIGINT or SIGTERM. It holds
 * the directory as its writer, runs cycles while there is work, and serves the page and its JSON API.
 */
import { isIP } from 'node:net'
import { STREAMS_MAX } from '../constants.js'
import { usageError, type Command } from './args.js'
import { PLACE_HELP, PLACE_OPTION, placeOf, runtimeModule, withRuntime } from './data.js'

// The server's module pulls in fastify: loaded only when the command runs (as the runtime's is).
const serveModule = (): Promise<typeof import('../web/index.js')> => import('../web/index.js')

/** Defaults, repeated here so `--help` needs no fastify; serve/limits.ts holds the real ones and a test compares. */
const PORT_DEFAULT = 7341
const INTERVAL_MS_DEFAULT = 1000

/** Hosts that only this machine can reach. */
function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

export const serve: Command = {
  name: 'serve',
  usage: 'strata serve [--data DIR | --url URL [--cache DIR]] [--port N] [--host H] [--interval MS] [--streams N]',
  about: 'the web inspector: a page and JSON API over a data directory, running its cycles',
  help: `Opens an existing data directory (or, with --url, a PostgreSQL database) as its writer and serves the web inspector: a page that shows cycles, the
queue, programs, their memory and proofs, and a JSON API under /api/ (docs/inspector.md). While anything is
queued, waiting or delayed it runs a cycle every --interval milliseconds; the page can also run one, send
messages and query programs. It prints one line, \`strata serve: http://HOST:PORT/#token=TOKEN\`: open that
URL. Changes (POST) need the token; reads do not. Ctrl-C (or SIGTERM) lets the running cycle finish, closes
the directory and exits 0.

${PLACE_HELP}
                       (the server's read view keeps a replica of its own: DIR.reader with --cache)
  --port N             the port (default ${PORT_DEFAULT}; 0 picks a free one)
  --host H             the address to listen on (default 127.0.0.1). Any other than loopback lets other
                       machines in: the inspector has no TLS and its reads need no token
  --interval MS        milliseconds between cycles while there is work (default ${INTERVAL_MS_DEFAULT}; 0: only when asked)
  --streams N          parallel streams (0..${STREAMS_MAX}; default one per core, 0 = this thread)
  --json               print the start line as JSON: {"url", "token", "dataDir"} ("database",
                       host:port/name, instead of "dataDir" with --url)`,
  options: { ...PLACE_OPTION, port: { type: 'string' }, host: { type: 'string' }, interval: { type: 'string' }, streams: { type: 'string' } },
  async run(args) {
    args.expect(0, 0, 'no positional arguments')
    const { HOST_DEFAULT, INTERVAL_MS_MAX, startInspector } = await serveModule()
    const place = await placeOf(args)
    const port = args.integer('port', PORT_DEFAULT, 0, 65_535)
    const intervalMs = args.integer('interval', INTERVAL_MS_DEFAULT, 0, INTERVAL_MS_MAX)
    const streams = args.integer('streams', undefined, 0, STREAMS_MAX)
    const host = args.string('host') ?? HOST_DEFAULT
    if (host === '') throw usageError('serve: --host needs a host name or address')
    if (!isLoopback(host)) {
      process.stderr.write(`strata: warning: listening on ${host}, not loopback: the inspector has no TLS, and anyone who ` +
        'reaches it can read every program\'s state (GETs need no token)\n')
    }
    // On PostgreSQL the read view is a read-only runtime on the database, with a replica of its own.
    const { Runtime } = await runtimeModule()
    const { url, cacheDir } = place
    const readView = url === undefined ? {} : {
      database: place.label,
      openReader: () => Runtime.open({ store: 'postgres', url, readOnly: true, ...(cacheDir !== undefined ? { cacheDir: `${cacheDir}.reader` } : {}) }),
    }
    return withRuntime(place, streams, async (runtime) => {
      // Listen for the signals before the line that tells a caller it may send them.
      let stop: () => void = () => undefined
      const stopped = new Promise<void>((resolve) => { stop = resolve })
      let signalled = false
      const onSignal = (): void => {
        if (signalled) process.exit(130)
        signalled = true
        process.stderr.write('\nstrata serve: stopping after the running cycle (again to quit at once)\n')
        stop()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      try {
        const inspector = await startInspector({ runtime, host, port, intervalMs, ...readView })
        process.stdout.write(args.json
          ? `${JSON.stringify({ url: inspector.url, token: inspector.token, ...place.json })}\n`
          : `strata serve: ${inspector.url}\n`)
        await stopped
        await inspector.close()
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
      process.stderr.write(`strata serve: stopped at cycle ${runtime.cycle}\n`)
      return 0
    })
  },
}
