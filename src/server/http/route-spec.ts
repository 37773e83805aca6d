// What the REST router knows about each route, and what the OpenAPI document is built from:
// method, path pattern (`:name` segments), who may call it, and the schema of its JSON body.
import type { Schema } from '../../protocol/api-schema.ts';

/** Who may call a route: anyone, a logged-in person with at least this role, or an enrolled part. */
export type Access = 'public' | 'read' | 'operate' | 'admin' | 'audit';

export type RouteSpec = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. '/api/jobs/:name/runs' */
  path: string;
  summary: string;
  access: Access;
  body?: Schema;
  /** query parameters (all strings) */
  query?: Record<string, string>;
  /** short description of the answer, for the document */
  answers?: string;
  /** headers a successful answer may carry (name → description), for the document */
  answerHeaders?: Record<string, string>;
};
