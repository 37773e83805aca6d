// Who may do what on the data plane: the one check the router runs before every handler.
//
// Standalone mode: the request must carry `Authorization: Bearer <access key>`, compared in
// constant time. Server mode (docs/control-plane.md, "Grants on the data plane"): the TLS client
// certificate must chain to the backup server's CA and name an agent, and the request must carry
// a grant (`Cairn-Grant`) signed by the server for that agent, this storage server, the
// request's vault and an op that allows the request. Handlers never see an unauthorized request.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { CairnError } from '../core/errors.ts';
import type { PartIdentity } from '../core/part-identity.ts';
import { peerPart } from '../core/tls.ts';
import type { Op } from '../protocol/data-plane.ts';
import { GRANT_OPS, type GrantOp, verifyGrant } from '../protocol/grant.ts';
import { NETTEST_VAULT } from '../protocol/nettest.ts';

export type Need = { op: Op; vault?: string };

/**
 * Throws E_UNAUTHORIZED or E_FORBIDDEN when the request may not do `need`; otherwise answers
 * the run its grant names, or undefined when it has no grant (standalone mode).
 */
export type Authorize = (req: IncomingMessage, need: Need) => string | undefined;

/** The header an agent sends its run's grant in (HTTP header names are case-insensitive). */
export const GRANT_HEADER = 'cairn-grant';

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
    return undefined;
  };
}

/** Which grant ops allow a data-plane op: reads to every run, writes to backups and copies only, net tests their own routes. */
const ALLOWED: Record<Op, readonly GrantOp[]> = {
  read: ['backup', 'restore', 'verify', 'copy', 'gc'],
  write: ['backup', 'copy'],
  admin: [], // vault creation and scrub come from the server as control calls, never from agents
  nettest: ['nettest'],
};

/**
 * The op a grant claims, read before its signature is checked. Used only to tell verifyGrant
 * which op to expect (it compares exactly); every decision is taken on the grant verifyGrant
 * returns, whose signature covers the op. Anything unreadable falls through to verifyGrant,
 * which reports it.
 */
function claimedOp(token: string): GrantOp {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { op?: unknown };
    if ((GRANT_OPS as readonly unknown[]).includes(payload.op)) return payload.op as GrantOp;
  } catch {
    // malformed: verifyGrant says so
  }
  return GRANT_OPS[0];
}

/**
 * The part on the other end when its certificate chains to the CA. TLS checked the chain against
 * the CA the server was given; checking the issuer here too keeps this authorizer right even on
 * a server set up with other trust.
 */
type Peer = PartIdentity & { fingerprint: string };

function issuedPeer(socket: TLSSocket, ca: X509Certificate): Peer | null {
  const peer = peerPart(socket);
  if (!peer) return null;
  const raw = socket.getPeerCertificate().raw;
  if (!raw) return null;
  const leaf = new X509Certificate(raw);
  // the fingerprint as certificateFingerprint (core/tls.ts) computes it: SHA-256 of the DER
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey) ? { ...peer.part, fingerprint: createHash('sha256').update(raw).digest('hex') } : null;
}

/** What the authorizer needs of the revoked list (revocations.ts). */
export type RevokedList = { readonly received: boolean; has(fingerprint: string): boolean };

export type GrantAuthorizerOptions = {
  /** the backup server's CA (PEM): client certificates must chain to it */
  caPem: string;
  /** the server's grant-signing public key (PEM) */
  grantPublicKeyPem: string;
  /** this storage server's part name: grants for another storage server are refused */
  storageName: string;
  /** removed agents' certificates, refused even with a valid grant */
  revoked?: RevokedList;
  /** clock for expiry checks (tests) */
  now?: () => number;
};

/** The server-mode authorizer: an agent's certificate from the CA plus a grant allowing the request. */
export function grantAuthorizer(options: GrantAuthorizerOptions): Authorize {
  const now = options.now ?? Date.now;
  // The certificate is the connection's, not the request's: read it once per TLS connection.
  const peers = new WeakMap<Socket, Peer | null>();
  const ca = new X509Certificate(options.caPem);
  const peerOf = (req: IncomingMessage): Peer | undefined => {
    const socket = req.socket;
    let part = peers.get(socket);
    if (part === undefined) {
      part = 'getPeerCertificate' in socket ? issuedPeer(socket as TLSSocket, ca) : null;
      peers.set(socket, part);
    }
    return part ?? undefined;
  };

  return (req, need) => {
    const peer = peerOf(req);
    if (peer?.kind !== 'agent') throw new CairnError('E_UNAUTHORIZED', "client certificate from the server's CA required");
    const revoked = options.revoked;
    if (revoked && !revoked.received)
      throw new CairnError('E_UNAVAILABLE', "waiting for the backup server's list of revoked certificates: try again once it is connected");
    if (revoked?.has(peer.fingerprint)) throw new CairnError('E_FORBIDDEN', `certificate revoked: agent ${peer.name} was removed`);
    // a net test touches no vault: its grant names the placeholder, which no vault route accepts (ALLOWED)
    const vault = need.op === 'nettest' ? NETTEST_VAULT : need.vault;
    if (need.op === 'admin' || vault === undefined)
      throw new CairnError('E_FORBIDDEN', 'agents may not create or scrub vaults: the backup server does that');
    const token = req.headers[GRANT_HEADER];
    if (typeof token !== 'string' || token === '')
      throw new CairnError('E_UNAUTHORIZED', `missing grant (${GRANT_HEADER} header)`);
    const grant = verifyGrant(
      options.grantPublicKeyPem,
      token,
      { vault, op: claimedOp(token), storage: options.storageName },
      now(),
    );
    if (grant.agent !== peer.name)
      throw new CairnError('E_FORBIDDEN', `grant refused: it is for agent ${grant.agent}, not ${peer.name}`);
    if (grant.cert !== peer.fingerprint)
      throw new CairnError('E_FORBIDDEN', `grant refused: it is for agent ${grant.agent}'s certificate ${grant.cert.slice(0, 16)}…, not the one this connection presented (${peer.fingerprint.slice(0, 16)}…)`);
    if (!ALLOWED[need.op].includes(grant.op))
      throw new CairnError('E_FORBIDDEN', `grant refused: a ${grant.op} grant does not allow ${need.op}s`);
    return grant.run;
  };
}
