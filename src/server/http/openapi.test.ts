import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameSchema, type Schema } from '../../protocol/api-schema.ts';
import { openApiDocument } from './openapi.ts';
import type { RouteSpec } from './route-spec.ts';

const grantBody: Schema = {
  type: 'object',
  properties: { wrapped: { type: 'string', maxLength: 4096 }, tags: { type: 'array', items: nameSchema } },
  required: ['wrapped'],
};
const keysBody: Schema = {
  type: 'object',
  properties: {},
  additionalProperties: { type: 'string' },
};

const routes: RouteSpec[] = [
  { method: 'GET', path: '/api/health', summary: 'is the server up', access: 'public' },
  { method: 'GET', path: '/api/ca.pem', summary: 'CA', access: 'public' },
  { method: 'GET', path: '/api/runs', summary: 'runs', access: 'read', query: { job: 'only runs of this job', limit: 'at most this many' }, answerHeaders: { 'Cairn-Next-After': 'the next page' } },
  { method: 'PUT', path: '/api/vaults/:name/agents/:agent', summary: 'grant', access: 'read', body: grantBody, answers: '{}' },
  { method: 'POST', path: '/api/vaults/:name/keys', summary: 'keys', access: 'admin', body: keysBody },
  { method: 'DELETE', path: '/api/vaults/:name/agents/:agent', summary: 'revoke', access: 'admin' },
  { method: 'GET', path: '/api/audit', summary: 'audit log', access: 'audit' },
];

type Op = {
  operationId: string;
  security: unknown[];
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { content: { 'application/json': { schema: unknown } } };
  responses: Record<string, { $ref?: string; content?: Record<string, unknown>; headers?: unknown }>;
  'x-cairn-access': string;
};

test('every route is in the document with {name} path parameters, query parameters, body schemas and security', () => {
  const doc = openApiDocument(routes, { version: '1.2.3' }) as {
    openapi: string;
    info: { version: string };
    paths: Record<string, Record<string, Op>>;
    components: { securitySchemes: Record<string, unknown>; schemas: { Error: { required: string[] } } };
  };
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.info.version, '1.2.3');
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/api/audit', '/api/ca.pem', '/api/health', '/api/runs', '/api/vaults/{name}/agents/{agent}', '/api/vaults/{name}/keys',
  ]);
  const count = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(count, routes.length, 'one operation per route');

  const grant = doc.paths['/api/vaults/{name}/agents/{agent}']!.put!;
  assert.deepEqual(grant.parameters!.map((p) => [p.name, p.in, p.required]), [['name', 'path', true], ['agent', 'path', true]]);
  assert.deepEqual(grant.requestBody!.content['application/json'].schema, { ...grantBody, additionalProperties: false });
  assert.deepEqual(grant.security, [{ bearer: [] }]);
  assert.equal(grant.operationId, 'putVaultsByNameAgentsByAgent');
  assert.equal(grant.responses['4XX']!.$ref, '#/components/responses/Error');
  assert.equal(grant.responses['5XX']!.$ref, '#/components/responses/Error');
  assert.ok(doc.paths['/api/vaults/{name}/agents/{agent}']!.delete, 'two methods on one path both kept');

  const keys = doc.paths['/api/vaults/{name}/keys']!.post!;
  assert.deepEqual(keys.requestBody!.content['application/json'].schema, keysBody, 'a map schema is emitted as it is');
  assert.equal(keys['x-cairn-access'], 'admin');

  const runs = doc.paths['/api/runs']!.get!;
  assert.deepEqual(runs.parameters!.map((p) => [p.name, p.in, p.required]), [['job', 'query', false], ['limit', 'query', false]]);
  assert.equal(runs.requestBody, undefined);
  assert.deepEqual(runs.responses['2XX']!.headers, { 'Cairn-Next-After': { description: 'the next page', schema: { type: 'string' } } });
  assert.equal(grant.responses['2XX']!.headers, undefined, 'no headers where a route names none');

  assert.deepEqual(doc.paths['/api/health']!.get!.security, [], 'public routes need no token');
  assert.ok(doc.paths['/api/ca.pem']!.get!.responses['2XX']!.content!['application/x-pem-file']);
  assert.deepEqual(Object.keys(doc.components.securitySchemes), ['bearer']);
  assert.deepEqual(doc.components.schemas.Error.required, ['error']);
  assert.doesNotThrow(() => JSON.stringify(doc));
});
