// The REST API's route table in one place: the server serves it, /api/openapi.json lists it, and
// the fuzz tests (test/fuzz/rest.test.ts) check the body schema of every route in it.
import type { AlertCenter } from '../alerts.ts';
import type { ServerContext } from '../context.ts';
import type { Route } from '../http/router.ts';
import type { Rebuilds } from '../rebuild.ts';
import type { Scheduler } from '../scheduler.ts';
import { alertRoutes } from './alert-routes.ts';
import { forgetRoutes } from './forget-routes.ts';
import { gcRoutes } from './gc-routes.ts';
import { jobRoutes } from './job-routes.ts';
import { netRoutes } from './net-routes.ts';
import { partRoutes } from './part-routes.ts';
import { rebuildRoutes } from './rebuild-routes.ts';
import { sessionRoutes } from './session-routes.ts';
import { snapshotRoutes } from './snapshot-routes.ts';
import { userRoutes } from './user-routes.ts';
import { vaultRoutes } from './vault-routes.ts';
import { verifyRoutes } from './verify-routes.ts';

/** What routes act through besides the context. */
export type RouteParts = { scheduler: Scheduler; rebuilds: Rebuilds; alerts: AlertCenter };

/** Every route of the API; building it only captures `c` and `parts`, so nothing is called yet. */
export function apiRoutes(c: ServerContext, parts: RouteParts): Route[] {
  const { scheduler, rebuilds, alerts } = parts;
  let routes: Route[] = [];
  routes = [...sessionRoutes(c, () => routes), ...partRoutes(c), ...vaultRoutes(c), ...jobRoutes(c, scheduler), ...snapshotRoutes(c), ...verifyRoutes(c), ...userRoutes(c), ...rebuildRoutes(c, rebuilds), ...forgetRoutes(c), ...gcRoutes(c, scheduler), ...alertRoutes(c, alerts), ...netRoutes(c)];
  return routes;
}
