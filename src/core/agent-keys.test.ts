import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash, createPublicKey } from 'node:crypto';
import { agentKeyFingerprint, generateAgentKeyPair, openForAgent, unwrapForAgent, wrapForAgent } from './agent-keys.ts';
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

test('an ak2 copy names its vault: the id is authenticated, and a copy with another vault id does not open', () => {
  const keys = generateVaultKeys();
  const a = generateAgentKeyPair();
  const vaultA = 'a'.repeat(32);
  const wrapped = wrapForAgent(keys, a.publicKeyPem, vaultA);
  assert.ok(wrapped.startsWith('ak2.'));
  assert.deepEqual(openForAgent(wrapped, a.privateKeyPem), { keys, vaultId: vaultA });
  assert.deepEqual(unwrapForAgent(wrapped, a.privateKeyPem), keys);
  // relabelled as vault B's: the associated data no longer matches
  const body = JSON.parse(Buffer.from(wrapped.slice(4), 'base64url').toString()) as Record<string, string>;
  const relabelled = `ak2.${Buffer.from(JSON.stringify({ ...body, vault: 'b'.repeat(32) })).toString('base64url')}`;
  assert.throws(() => openForAgent(relabelled, a.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'));
  // an ak1 body presented as ak2 (no vault), or an ak2 one as ak1 (other HKDF info and AAD)
  const legacy = wrapForAgent(keys, a.publicKeyPem);
  assert.ok(legacy.startsWith('ak1.'));
  assert.deepEqual(openForAgent(legacy, a.privateKeyPem), { keys, vaultId: undefined });
  assert.throws(() => openForAgent(`ak2.${legacy.slice(4)}`, a.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'));
  assert.throws(() => openForAgent(`ak1.${wrapped.slice(4)}`, a.privateKeyPem), (e) => isCairnError(e, 'E_CORRUPT'));
  assert.throws(() => wrapForAgent(keys, a.publicKeyPem, 'not-an-id'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});

test('the agent key fingerprint is SHA-256 of the SPKI DER, the same from the public or the private PEM', () => {
  const a = generateAgentKeyPair();
  const expected = createHash('sha256').update(createPublicKey(a.publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex');
  assert.equal(agentKeyFingerprint(a.publicKeyPem), expected);
  assert.equal(agentKeyFingerprint(a.privateKeyPem), expected);
  assert.notEqual(agentKeyFingerprint(generateAgentKeyPair().publicKeyPem), expected);
  assert.throws(() => agentKeyFingerprint('nope'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});
