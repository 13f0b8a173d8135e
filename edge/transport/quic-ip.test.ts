/**
 * QUIC to a hub dialled by IP address (the common case at the edge): quiche
 * checks server names as DNS names only, so quic.ts verifies IP SANs itself.
 */
import { describe, expect, it } from 'vitest';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import * as quic from './quic.ts';

describe('QUIC dialled by IP', () => {
  it('accepts a hub certificate with that IP SAN and refuses one without it', async () => {
    const ca = await createCa({ commonName: 'ip-test-ca', validityDays: 1 });
    const client = await issueCertificate({ ca, commonName: 'system:node:n1', usage: 'client', validityDays: 1 });
    for (const [ips, ok] of [[['127.0.0.1'], true], [['10.9.9.9'], false]] as const) {
      const hub = await issueCertificate({ ca, commonName: 'hub', ipAddresses: [...ips], usage: 'server', validityDays: 1 });
      const l = await quic.listen({ host: '127.0.0.1', port: 0, tls: { ca: ca.certPem, cert: hub.certPem, key: hub.keyPem! } });
      try {
        const dial = quic.dial({ host: '127.0.0.1', port: l.address.port, connectTimeoutMs: 3000, tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem! } });
        if (ok) await (await dial).close();
        else await expect(dial).rejects.toMatchObject({ code: 'TRANSPORT_TLS_FAILED' });
      } finally {
        await l.close();
      }
    }
  });
});
