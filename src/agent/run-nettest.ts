// The agent's side of `net test` (protocol/nettest.ts): upload the asked number of random bytes
// to the storage server's discard route, then time a few small requests on the same connection.
// No run: the answer is the call's reply. The storage server keeps nothing of it.
import { randomBytes } from 'node:crypto';
import { checkBody, type Schema } from '../protocol/api-schema.ts';
import { NETTEST_MAX_BYTES, type NetTestParams, type NetTestResult } from '../protocol/nettest.ts';
import { grantSchema, storageRefSchema } from './run-backup.ts';
import type { StorageClient } from './storage-client.ts';

const netTestSchema: Schema = {
  type: 'object',
  properties: { storage: storageRefSchema, grant: grantSchema, bytes: { type: 'integer', minimum: 1, maximum: NETTEST_MAX_BYTES } },
  required: ['storage', 'grant', 'bytes'],
};

export function checkNetTestParams(params: unknown): NetTestParams {
  return checkBody<NetTestParams>(netTestSchema, params);
}

/** Random bytes sent over and over: TLS does not compress, so one random MiB is as good as 64. */
const BLOCK_BYTES = 1024 * 1024;

export async function runNetTest(p: NetTestParams, client: StorageClient): Promise<NetTestResult> {
  const seconds = await client.discard(p.bytes, randomBytes(BLOCK_BYTES));
  const rtts = (await client.pings()).sort((a, b) => a - b);
  const median = rtts[Math.floor(rtts.length / 2)]!;
  return { bytes: p.bytes, seconds, throughputBytesPerSec: Math.round(p.bytes / seconds), rttMs: Math.round(median * 1000) / 1000 };
}
