import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Counter } from 'prom-client';
import { isCairnError } from './errors.ts';
import { newRegistry, serveMetrics } from './metrics-endpoint.ts';

test('GET /metrics serves the registry in the text format; other paths are 404, other methods 405', async () => {
  const registry = newRegistry();
  new Counter({ name: 'cairn_test_things_total', help: 'things', registers: [registry] }).inc(3);
  const endpoint = await serveMetrics('127.0.0.1:0', registry);
  try {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(endpoint.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^cairn_test_things_total 3$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m, 'process metrics are there');
    assert.equal((await fetch(endpoint.url.replace('/metrics', '/'))).status, 404);
    assert.equal((await fetch(endpoint.url, { method: 'POST' })).status, 405);
  } finally {
    await endpoint.close();
  }
});

test("the process metrics leave out the three gauges named …_total that promtool refuses, and promtool takes the rest", async () => {
  const text = await newRegistry().metrics();
  assert.doesNotMatch(text, /nodejs_active_(handles|requests|resources)_total/);
  assert.match(text, /^# TYPE nodejs_active_handles gauge$/m, 'the same figure stays, without the suffix');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.error, undefined, `promtool did not run (Debian package prometheus): ${r.error?.message}`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('a port in use is E_UNAVAILABLE naming the flag and the address; a malformed address is E_USAGE', async () => {
  const first = await serveMetrics('127.0.0.1:0', newRegistry());
  try {
    const port = new URL(first.url).port;
    await assert.rejects(serveMetrics(`127.0.0.1:${port}`, newRegistry()), (e: unknown) =>
      isCairnError(e, 'E_UNAVAILABLE') && (e as Error).message === `--metrics-listen: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  } finally {
    await first.close();
  }
  await assert.rejects(serveMetrics('nonsense', newRegistry()), (e: unknown) => isCairnError(e, 'E_USAGE') && /--metrics-listen: want HOST:PORT/.test((e as Error).message));
});
