// The OpenAPI 3.1 document served at /api/openapi.json, built from the router's own route table,
// so the document cannot drift from what the server does: the same paths, the same access
// levels, and the very body schemas `checkBody` enforces. An object schema without
// `additionalProperties` refuses unknown fields in `checkBody`; JSON Schema's default is to
// allow them, so the document says `additionalProperties: false` there.
import { ERROR_CODES } from '../../core/errors.ts';
import type { Schema } from '../../protocol/api-schema.ts';
import type { RouteSpec } from './route-spec.ts';

type Json = Record<string, unknown>;

const ACCESS_TEXT: Record<RouteSpec['access'], string> = {
  public: 'anyone',
  read: 'any logged-in person',
  operate: 'admin, operator, or user (on what they own)',
  admin: 'admin',
  audit: 'admin or auditor',
};

const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string', description: 'one sentence a person understands' },
      },
      required: ['code', 'message'],
      additionalProperties: false,
    },
  },
  required: ['error'],
  additionalProperties: false,
};

/** `schema` as JSON Schema, saying what checkBody enforces. */
export function jsonSchemaOf(schema: Schema): Json {
  switch (schema.type) {
    case 'array':
      return { ...schema, items: jsonSchemaOf(schema.items) };
    case 'object': {
      const properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, jsonSchemaOf(v)]));
      const additionalProperties = schema.additionalProperties ? jsonSchemaOf(schema.additionalProperties) : false;
      return { ...schema, properties, additionalProperties };
    }
    default:
      return { ...schema };
  }
}

/** '/api/jobs/:name/runs' → '/api/jobs/{name}/runs' and the parameter names in order. */
function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const converted = path
    .split('/')
    .map((seg) => {
      if (!seg.startsWith(':')) return seg;
      params.push(seg.slice(1));
      return `{${seg.slice(1)}}`;
    })
    .join('/');
  return { path: converted, params };
}

/** e.g. POST /api/jobs/:name/runs → 'postJobsByNameRuns': stable names for generated clients. */
function operationId(route: RouteSpec): string {
  const words = route.path
    .split('/')
    .filter((s) => s !== '' && s !== 'api')
    .flatMap((s) => (s.startsWith(':') ? ['by', s.slice(1)] : s.split(/[^A-Za-z0-9]+/)))
    .filter((w) => w !== '');
  return route.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** What a successful answer is: the CA as PEM, the event stream, or JSON. */
function successContent(route: RouteSpec): Json {
  if (route.path.endsWith('.pem')) return { 'application/x-pem-file': { schema: { type: 'string' } } };
  if (route.path.endsWith('/events')) return { 'text/event-stream': { schema: { type: 'string' } } };
  return { 'application/json': { schema: {} } };
}

function operation(route: RouteSpec, pathParams: string[]): Json {
  const parameters: Json[] = [
    ...pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...Object.entries(route.query ?? {}).map(([name, description]) => ({
      name,
      in: 'query',
      required: false,
      description,
      schema: { type: 'string' },
    })),
  ];
  const tag = route.path.split('/').filter((s) => s !== '' && s !== 'api')[0] ?? 'api';
  const op: Json = {
    operationId: operationId(route),
    summary: route.summary,
    description: `Who: ${ACCESS_TEXT[route.access]}.`,
    tags: [tag.replace(/\..*$/, '')],
    'x-cairn-access': route.access,
    security: route.access === 'public' ? [] : [{ bearer: [] }],
  };
  if (parameters.length > 0) op.parameters = parameters;
  if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchemaOf(route.body) } } };
  op.responses = {
    // 2XX: the router answers 201 to most POSTs and 200 otherwise; the range keeps that its own business.
    '2XX': {
      description: route.answers ?? 'done',
      content: successContent(route),
      ...(route.answerHeaders ? { headers: Object.fromEntries(Object.entries(route.answerHeaders).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
    },
    '4XX': { $ref: '#/components/responses/Error' },
    '5XX': { $ref: '#/components/responses/Error' },
  };
  return op;
}

export function openApiDocument(routes: readonly RouteSpec[], info: { version: string }): object {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const { path, params } = openApiPath(route.path);
    const item = (paths[path] ??= {});
    item[route.method.toLowerCase()] = operation(route, params);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Cairn backup server',
      version: info.version,
      description: 'Consoles send `Authorization: Bearer <session or API token>`. Errors are `{error: {code, message}}`.',
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a session token from POST /api/login, or an API token' } },
      schemas: { Error: ERROR_SCHEMA },
      responses: {
        Error: { description: 'the request failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  };
}
