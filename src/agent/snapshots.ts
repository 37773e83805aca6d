// Snapshot records in a vault: sealed as a blob of type BLOB_SNAPSHOT whose associated data
// names the snapshot's own id (so a record cannot be passed off under another id), stored with
// the clear sorted list of every chunk id the snapshot references (for key-less GC).
import { BLOB_SNAPSHOT, openBlob, sealBlob } from '../core/blob.ts';
import { CairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import { decodeSnapshot, encodeSnapshot, type SnapshotRecord } from '../core/snapshot.ts';
import type { StorageClient, StreamedRefs } from './storage-client.ts';

const SNAPSHOT_ID = /^[0-9a-f]{64}$/;
const LOAD_CONCURRENCY = 8;

function blobIdOf(id: string): Buffer {
  if (!SNAPSHOT_ID.test(id)) throw new CairnError('E_BAD_REQUEST', `not a snapshot id: ${id}`);
  return Buffer.from(id, 'hex');
}

export async function saveSnapshot(
  client: StorageClient,
  vault: string,
  keys: VaultKeys,
  record: SnapshotRecord,
  /** every referenced chunk id, sorted and unique, concatenated (`encodeRefs` makes one) or streamed */
  refs: Buffer | StreamedRefs,
): Promise<void> {
  const sealed = sealBlob(keys, BLOB_SNAPSHOT, blobIdOf(record.id), encodeSnapshot(record));
  await client.putSnapshot(vault, record.id, sealed, refs);
}

export async function loadSnapshot(
  client: StorageClient,
  vault: string,
  keys: VaultKeys | Promise<VaultKeys>,
  id: string,
): Promise<SnapshotRecord> {
  const sealed = await client.getSnapshot(vault, id);
  return openSnapshot(await keys, id, sealed);
}

function openSnapshot(keys: VaultKeys, id: string, sealed: Buffer): SnapshotRecord {
  const record = decodeSnapshot(openBlob(keys, BLOB_SNAPSHOT, blobIdOf(id), sealed));
  if (record.id !== id) throw new CairnError('E_CORRUPT', `snapshot ${id} holds the record of ${record.id}`);
  return record;
}

/**
 * Every snapshot of the vault, newest first. The keys may still be on their way (a passphrase
 * derivation takes ~0.2 s): the sealed records are fetched meanwhile and opened when they come.
 */
export async function listSnapshots(
  client: StorageClient,
  vault: string,
  keys: VaultKeys | Promise<VaultKeys>,
): Promise<SnapshotRecord[]> {
  const ids = await client.listSnapshots(vault);
  const sealed: Buffer[] = [];
  for (let i = 0; i < ids.length; i += LOAD_CONCURRENCY) {
    const batch = ids.slice(i, i + LOAD_CONCURRENCY);
    sealed.push(...(await Promise.all(batch.map((id) => client.getSnapshot(vault, id)))));
  }
  const opened = await keys;
  const records = ids.map((id, i) => openSnapshot(opened, id, sealed[i]!));
  return records.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.id < b.id ? 1 : -1));
}
