/**
 * Stream assignment: a pure function of a program id and the stream count, so every program always runs on the
 * same stream for a given N (its memory stays warm there) and the assignment never depends on load or history.
 * Program ids are SHA-256 outputs, so their first 32 bits are uniformly spread.
 */
export function streamOf(programId: string, streams: number): number {
  return Number.parseInt(programId.slice(0, 8), 16) % streams
}
