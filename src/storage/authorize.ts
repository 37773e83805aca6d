// Who may do what on the data plane: the one check the router runs before every handler.
//
// Standalone mode (now): the request must carry `Authorization: Bearer <access key>`, compared
// in constant time. With the backup server (next issue) this is where the other checks slot in,
// without touching any handler: the TLS client certificate (req.socket.getPeerCertificate(),
// issued by the server's CA and requested with `requestCert`) names the agent, and the signed
// grant the agent presents says which vaults it may read or write; `need.op` and `need.vault`
// are exactly what such a grant check compares against.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CairnError } from '../core/errors.ts';
import type { Op } from '../protocol/data-plane.ts';

export type Need = { op: Op; vault?: string };

/** Throws E_UNAUTHORIZED (or, later, E_FORBIDDEN) when the request may not do `need`. */
export type Authorize = (req: IncomingMessage, need: Need) => void;

/** The standalone authorizer: any holder of the access key may do anything. */
export function standaloneAuthorizer(accessKeyHex: string): Authorize {
  const key = Buffer.from(accessKeyHex, 'utf8');
  return (req) => {
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer ([^\s]+)$/i.exec(header);
    if (!m) throw new CairnError('E_UNAUTHORIZED', 'missing access key (Authorization: Bearer <key>)');
    const given = Buffer.from(m[1]!, 'utf8');
    // timingSafeEqual needs equal lengths; comparing against itself keeps the time independent of the key.
    const ok = given.length === key.length ? timingSafeEqual(given, key) : !timingSafeEqual(given, given);
    if (!ok) throw new CairnError('E_UNAUTHORIZED', 'wrong access key');
  };
}
