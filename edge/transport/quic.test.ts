import { describe, expect, it } from 'vitest';
import { transportContract, networkHarness, testPki } from './contract.ts';
import { TransportError } from './errors.ts';
import * as quic from './quic.ts';

transportContract('quic', async () => networkHarness(quic, 'udp', await testPki()));

describe('quic transport', () => {
  it('loads the native module on this platform, and passes a loader failure through as TRANSPORT_QUIC_UNAVAILABLE', async () => {
    if (process.platform === 'linux' && process.arch === 'x64') await expect(quic.loadQuic()).resolves.toHaveProperty('QUICClient');
    const pki = await testPki();
    const loadQuic = () => Promise.reject(new TransportError('TRANSPORT_QUIC_UNAVAILABLE', 'simulated: no binding for linux-arm64'));
    await expect(quic.dial({ host: '127.0.0.1', port: 1, tls: { ca: pki.ca.certPem }, loadQuic })).rejects.toMatchObject({ code: 'TRANSPORT_QUIC_UNAVAILABLE' });
    await expect(quic.listen({ host: '127.0.0.1', port: 0, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, loadQuic })).rejects.toMatchObject({ code: 'TRANSPORT_QUIC_UNAVAILABLE' });
  });

  it('times out with TRANSPORT_CONNECT_TIMEOUT when nothing answers on the UDP port', async () => {
    const pki = await testPki();
    const t0 = performance.now();
    await expect(quic.dial({ host: '127.0.0.1', port: 9, connectTimeoutMs: 800, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } })).rejects.toMatchObject({ code: 'TRANSPORT_CONNECT_TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
