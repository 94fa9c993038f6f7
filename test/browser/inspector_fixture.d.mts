// Types of inspector_fixture.mjs for the TypeScript tests.
import type { Browser } from 'playwright-core'

export declare const CHROMIUM_PATH: string
export declare const CHROMIUM_ARGS: readonly string[]
export declare const MARKUP: string

export interface Served {
  /** `http://127.0.0.1:PORT/#token=TOKEN`, as `strata serve --json` printed it. */
  readonly url: string
  readonly token: string
  /** `http://127.0.0.1:PORT` */
  readonly origin: string
  close(): Promise<void>
}

export interface DemoInspector extends Served {
  readonly dataDir: string
  /** The markup program's id. */
  readonly markupId: string
  /** The demo's programs by name (counter-0, token, kv, ...): id prefixes of 8 hex digits. */
  readonly demoPrograms: Readonly<Record<string, string>>
}

export declare function makeDataDir(options?: { cycles?: number }): Promise<{ dataDir: string; markupId: string; demoPrograms: Readonly<Record<string, string>> }>
export declare function serve(dataDir: string, options?: { intervalMs?: number }): Promise<Served>
export declare function launchChromium(): Promise<Browser>
export declare function startDemoInspector(options?: { cycles?: number; intervalMs?: number }): Promise<DemoInspector>
