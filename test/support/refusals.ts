// Assertions for bad-input tests against a running cluster: a refused CLI command or raw API
// request gets the expected exit status or 4xx, one clear line naming the bad thing, changes
// nothing the catalog shows, and (when it reached the server as a change) is in the audit log.
import assert from 'node:assert/strict';
import type { Cluster } from './cluster.ts';
import { type AuditEntry, auditCount, auditSince, catalogState, errorOf, type RawApi, type RawRequest } from './raw-api.ts';

export type ExpectedAudit = { what: string; result: string; who?: string };

/** Runs `act` and checks that nothing the catalog shows changed; answers what it returned and the new audit entries. */
export async function unchanged<T>(api: RawApi, act: () => Promise<T>): Promise<{ result: T; audit: AuditEntry[] }> {
  const before = await catalogState(api);
  const count = await auditCount(api);
  const result = await act();
  assert.deepEqual(await catalogState(api), before, 'a refused request changed what the catalog shows');
  return { result, audit: await auditSince(api, count) };
}

function checkAudit(audit: AuditEntry[], expected: ExpectedAudit | undefined, label: string): void {
  if (expected === undefined) {
    // a refusal that never reached the server as a change (a usage error, a GET) leaves no entry,
    // except a refused read (401/403/404/429), which is audited as such
    assert.deepEqual(audit.filter((e) => !(e.what.startsWith('GET ') && e.result !== 'ok')), [], `${label}: unexpected audit entries`);
    return;
  }
  const found = audit.find((e) => e.what === expected.what && e.result === expected.result && (expected.who === undefined || e.who === expected.who));
  assert.ok(found, `${label}: audit log lacks ${JSON.stringify(expected)}; new entries: ${JSON.stringify(audit)}`);
  assert.ok(audit.every((e) => e.result !== 'ok'), `${label}: the audit log shows a change: ${JSON.stringify(audit)}`);
}

/** A CLI command refused with `exit` and one stderr line matching `message`, nothing changed. */
export async function cliRefused(
  c: Cluster,
  api: RawApi,
  args: string[],
  expected: { exit: 1 | 2; message: RegExp; audit?: ExpectedAudit; env?: Record<string, string> },
): Promise<void> {
  const label = `cairn ${args.join(' ')}`;
  const { result: r, audit } = await unchanged(api, () => c.cli(args, undefined, expected.env));
  assert.equal(r.code, expected.exit, `${label}: exit ${r.code}, stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${label}: stderr is not one line: ${r.stderr}`);
  assert.match(lines[0]!, /^cairn: /, label);
  assert.match(lines[0]!, expected.message, label);
  assert.doesNotMatch(r.stderr, /internal error|HTTP 5\d\d|at .*\.ts:\d+/, `${label}: not a clear error`);
  assert.equal(r.stdout, '', `${label}: printed on stdout`);
  checkAudit(audit, expected.audit, label);
}

/** A raw API request refused with `status` (4xx), `{error:{code,message}}` matching, nothing changed. */
export async function httpRefused(
  api: RawApi,
  path: string,
  request: RawRequest,
  expected: { status: number; code: string; message: RegExp; audit?: ExpectedAudit },
): Promise<void> {
  const label = `${request.method ?? (request.body === undefined ? 'GET' : 'POST')} ${path}`;
  assert.ok(expected.status >= 400 && expected.status < 500, `${label}: expectations must be a 4xx`);
  const { result: a, audit } = await unchanged(api, () => api.call(path, request));
  const error = errorOf(a);
  assert.equal(a.status, expected.status, `${label}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
  assert.equal(error.code, expected.code, `${label}: ${a.text.slice(0, 300)}`);
  assert.ok(error.message !== undefined && !error.message.includes('\n'), `${label}: the message is not one line: ${a.text.slice(0, 300)}`);
  assert.match(error.message, expected.message, label);
  checkAudit(audit, expected.audit, label);
}
