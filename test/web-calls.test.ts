// The web console calls only the public REST API (issue 14): every route in its call table
// (src/web/calls.ts) is in the OpenAPI document the server builds from its route table, with the
// same method, and the console's source builds its requests from that table alone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { apiRoutes, type RouteParts } from '../src/server/api/routes.ts';
import type { ServerContext } from '../src/server/context.ts';
import { openApiDocument } from '../src/server/http/openapi.ts';
import { CALLS, urlOf } from '../src/web/calls.ts';

const WEB = join(import.meta.dirname, '../src/web');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []));
}

describe("the web console's API calls", () => {
  it('are all in /api/openapi.json with the same method', () => {
    // building the table only captures its arguments: nothing is called
    const doc = openApiDocument(apiRoutes({} as ServerContext, {} as RouteParts), { version: 'test' }) as { paths: Record<string, Record<string, unknown>> };
    for (const [name, call] of Object.entries(CALLS)) {
      const path = call.path.replace(/:([A-Za-z]+)/g, '{$1}');
      assert.ok(doc.paths[path], `${name}: ${call.path} is not in the API document`);
      assert.ok(doc.paths[path]![call.method.toLowerCase()], `${name}: ${call.method} ${call.path} is not in the API document`);
    }
  });

  it('fill path segments encoded, so a name cannot reach another route', () => {
    assert.equal(urlOf(CALLS.job, { name: '../users' }), '/api/jobs/..%2Fusers');
    assert.equal(urlOf(CALLS.ls, { id: 'abc' }, { path: '/a b&c', after: undefined }), '/api/snapshots/abc/ls?path=%2Fa+b%26c');
    assert.throws(() => urlOf(CALLS.run), /no value for :id/);
  });

  it('are the only way the console reaches the server: no other fetch, no EventSource elsewhere, no HTML from data', () => {
    for (const file of sources(WEB)) {
      const text = readFileSync(file, 'utf8');
      const name = file.slice(WEB.length + 1);
      if (name !== 'api.ts') assert.doesNotMatch(text, /\bfetch\(/, `${name} calls fetch itself`);
      if (name !== 'data.ts') assert.doesNotMatch(text, /new EventSource/, `${name} opens its own event stream`);
      assert.doesNotMatch(text, /dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write/, `${name} builds HTML`);
      if (name !== 'calls.ts' && name !== 'api.ts') assert.doesNotMatch(text, /['"`]\/api\/[a-z]/, `${name} names an API path outside calls.ts`);
    }
  });
});
