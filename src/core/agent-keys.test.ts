import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateAgentKeyPair, unwrapForAgent, wrapForAgent } from './agent-keys.ts';
import { isCairnError } from './errors.ts';
import { generateVaultKeys } from './keys.ts';

test('vault keys wrapped to an agent open only with that agent key', () => {
  const keys = generateVaultKeys();
  const a = generateAgentKeyPair();
  const b = generateAgentKeyPair();
  const wrapped = wrapForAgent(keys, a.publicKeyPem);
  assert.deepEqual(unwrapForAgent(wrapped, a.privateKeyPem), keys);
  assert.throws(() => unwrapForAgent(wrapped, b.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'));
  // two wraps of the same keys differ (fresh ephemeral key and salt)
  assert.notEqual(wrapForAgent(keys, a.publicKeyPem), wrapped);
});

test('a tampered or malformed wrapped copy is refused as corrupt', () => {
  const keys = generateVaultKeys();
  const a = generateAgentKeyPair();
  const body = JSON.parse(Buffer.from(wrapForAgent(keys, a.publicKeyPem).slice(4), 'base64url').toString()) as Record<string, string>;
  const sealed = Buffer.from(body.sealed!, 'base64url');
  sealed[5]! ^= 1;
  const tampered = `ak1.${Buffer.from(JSON.stringify({ ...body, sealed: sealed.toString('base64url') })).toString('base64url')}`;
  for (const bad of [tampered, 'ak1.', 'nope', `ak1.${Buffer.from('{}').toString('base64url')}`])
    assert.throws(() => unwrapForAgent(bad, a.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'));
  assert.throws(() => wrapForAgent(keys, 'not a key'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});
