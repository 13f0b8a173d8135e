import { createHash, X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { caPin, createCa, createCsr, issueCertificate, parseCertificate, signCsr, PkiError } from './pki.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('lib/pki', () => {
  it('creates a CA and issues server and client certificates with the requested fields', async () => {
    const ca = await createCa({ commonName: 'outpost-ca', validityDays: 3650, now });
    const ci = parseCertificate(ca.certPem);
    expect(ci).toMatchObject({ subjectCN: 'outpost-ca', issuerCN: 'outpost-ca', isCa: true });
    expect(ci.notBefore.getTime()).toBeLessThan(now.getTime());
    expect(ci.notAfter.toISOString()).toBe('2035-12-30T00:00:00.000Z');

    const srv = await issueCertificate({ ca, commonName: 'cloudhub', dnsNames: ['localhost', 'hub.example'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server', validityDays: 30 });
    expect(srv.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const si = parseCertificate(srv.certPem);
    expect(si).toMatchObject({ subjectCN: 'cloudhub', issuerCN: 'outpost-ca', isCa: false, dnsNames: ['localhost', 'hub.example'], ips: ['127.0.0.1', '::1'], organization: [] });

    // Node's own parser agrees on chain, key usage and SANs.
    const node = new X509Certificate(srv.certPem);
    expect(node.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(node.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(node.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(node.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(si.fingerprint).toBe('sha256:' + node.fingerprint256.replaceAll(':', '').toLowerCase());

    const cli = await issueCertificate({ ca, commonName: 'edge-1', organization: ['system:nodes', 'outpost:edges'], usage: 'client', validityDays: 30 });
    expect(parseCertificate(cli.certPem).organization).toEqual(['system:nodes', 'outpost:edges']);
    expect(new X509Certificate(cli.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('signs a CSR only for the authorised CN and keeps the edge key local', async () => {
    const ca = await createCa({ commonName: 'outpost-ca', validityDays: 365 });
    const { csrPem, keyPem } = await createCsr({ commonName: 'edge-7', organization: ['system:masters'] });
    const { certPem } = await signCsr(ca, csrPem, { commonName: 'edge-7', organization: ['outpost:edges'], usage: 'client', validityDays: 90 });
    const info = parseCertificate(certPem);
    // The CSR's O (a privilege escalation attempt) is ignored; the signer's O is used.
    expect(info).toMatchObject({ subjectCN: 'edge-7', organization: ['outpost:edges'] });
    // The certificate certifies the CSR's key.
    expect(new X509Certificate(certPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem))).toBe(true);

    await expect(signCsr(ca, csrPem, { commonName: 'edge-8', usage: 'client', validityDays: 90 })).rejects.toMatchObject({ code: 'PKI_CSR_SUBJECT_MISMATCH' });
    // Flip the last byte of the DER (inside the signature's s value).
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signCsr(ca, tampered, { commonName: 'edge-7', usage: 'client', validityDays: 90 })).rejects.toMatchObject({ code: 'PKI_CSR_SIGNATURE_INVALID' });
    await expect(signCsr(ca, 'not pem', { commonName: 'edge-7', usage: 'client', validityDays: 90 })).rejects.toMatchObject({ code: 'PKI_INVALID_PEM' });
  });

  it('certifies a given public key without returning a private key', async () => {
    const ca = await createCa({ commonName: 'outpost-ca', validityDays: 365 });
    const pub = new X509Certificate((await issueCertificate({ ca, commonName: 'x', usage: 'both', validityDays: 1 })).certPem).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const out = await issueCertificate({ ca, commonName: 'y', usage: 'both', validityDays: 1, publicKeyPem: pub });
    expect(out.keyPem).toBeUndefined();
    expect(new X509Certificate(out.certPem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(pub);
  });

  it('rejects bad arguments with PKI_INVALID_ARGUMENT', async () => {
    await expect(createCa({ commonName: '', validityDays: 1 })).rejects.toMatchObject({ code: 'PKI_INVALID_ARGUMENT' });
    await expect(createCa({ commonName: 'ca', validityDays: 0 })).rejects.toMatchObject({ code: 'PKI_INVALID_ARGUMENT' });
    const ca = await createCa({ commonName: 'ca', validityDays: 1 });
    await expect(issueCertificate({ ca, commonName: 'a', usage: 'peer' as never, validityDays: 1 })).rejects.toMatchObject({ code: 'PKI_INVALID_ARGUMENT' });
    expect(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(PkiError);
  });

  it('pins the CA by the SHA-256 of its SubjectPublicKeyInfo', async () => {
    const ca = await createCa({ commonName: 'outpost-ca', validityDays: 365 });
    const spki = new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' });
    expect(caPin(ca.certPem)).toBe('sha256:' + createHash('sha256').update(spki).digest('hex'));
    expect(caPin(ca.certPem)).not.toBe(parseCertificate(ca.certPem).fingerprint);
  });

  it('is accepted by Node tls for mutual TLS, and a client from another CA is refused', async () => {
    const ca = await createCa({ commonName: 'outpost-ca', validityDays: 365 });
    const other = await createCa({ commonName: 'other-ca', validityDays: 365 });
    const srv = await issueCertificate({ ca, commonName: 'cloudhub', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validityDays: 1 });
    const { csrPem, keyPem } = await createCsr({ commonName: 'edge-1' });
    const cli = { certPem: (await signCsr(ca, csrPem, { commonName: 'edge-1', usage: 'client', validityDays: 1 })).certPem, keyPem };
    const bad = await issueCertificate({ ca: other, commonName: 'edge-1', usage: 'client', validityDays: 1 });

    const seen: string[] = [];
    const server = tls.createServer({ key: srv.keyPem, cert: srv.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (s) => {
      seen.push(String(s.getPeerCertificate().subject.CN));
      s.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    // With TLS 1.3 the client finishes its handshake before the server checks
    // the client certificate, so a refusal shows up as an alert (or a bare
    // end of stream) after connect, never as 'ok'.
    const connect = (key: string | undefined, cert: string | undefined) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.certPem, key, cert });
        let data = '';
        s.setEncoding('utf8').on('data', (d: string) => (data += d)).on('end', () => resolve(data)).on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
        setTimeout(() => reject(new Error('timeout')), 5000).unref();
      });
    try {
      expect(await connect(cli.keyPem, cli.certPem)).toBe('ok');
      expect(seen).toEqual(['edge-1']);
      expect(await connect(bad.keyPem, bad.certPem)).toMatch(/^error:ERR_SSL_.*(UNKNOWN_CA|CERTIFICATE)|^$/);
      expect(await connect(undefined, undefined)).toMatch(/^error:ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED$|^$/);
      expect(seen).toEqual(['edge-1']);
    } finally {
      server.close();
    }
  });
});
