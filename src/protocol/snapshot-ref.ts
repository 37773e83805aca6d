// How a console names a snapshot: its 64 hex digits or a unique prefix of at least 8. One rule
// for the CLI (which refuses a shorter prefix as bad usage before asking) and the server.

export const MIN_SNAPSHOT_PREFIX = 8;

/** The sentence for a prefix of hex digits too short to name a snapshot; undefined for any other text. */
export function shortSnapshotPrefix(text: string): string | undefined {
  if (!/^[0-9a-f]+$/i.test(text) || text.length >= MIN_SNAPSHOT_PREFIX) return undefined;
  return `snapshot ${text}: give at least ${MIN_SNAPSHOT_PREFIX} hex digits`;
}
