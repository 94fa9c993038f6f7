import { readFileSync } from 'node:fs'

/** The version in the package.json this build came with (dist/ and src/ both sit in the package root). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return manifest.version
}
