// A bare HTTPS peer posing as storage server `nas` (its certificate from a CA of its own), and a
// StorageClient that trusts it: for tests of how the agent's client meets a peer that misbehaves
// (goes silent, cuts an answer short) — what a real storage server never does.
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { StorageClient } from '../../src/agent/storage-client.ts';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from '../../src/core/ca.ts';
import { serverTlsOptions } from '../../src/core/tls.ts';

export type BarePeer = { server: Server; client: StorageClient; close: () => Promise<void> };

/** Starts the peer on 127.0.0.1; `handle` answers every request (and every `Expect: 100-continue`, never continued). */
export async function startBarePeer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<BarePeer> {
  const ca = await createCertificateAuthority('Test CA');
  const req = await createPartRequest({ kind: 'storage', name: 'nas' });
  const certPem = await issuePartCertificate(ca, req.csrPem, { kind: 'storage', name: 'nas', hosts: ['127.0.0.1'] });
  const server = createServer(serverTlsOptions({ keyPem: req.keyPem, certPem }));
  server.on('request', handle);
  server.on('checkContinue', handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new StorageClient({
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: ca.certPem,
    expect: { kind: 'storage', name: 'nas' },
    grant: () => 'grant',
  });
  return {
    server,
    client,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
