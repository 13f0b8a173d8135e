import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../lib/pki.ts';
import { rotationDue, WebhookCertificates } from './certs.ts';

const day = 86_400_000;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'outpost-webhook-certs-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const verifies = (certPem: string, caPem: string) => new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
const caCount = (bundle: string) => bundle.split('BEGIN CERTIFICATE').length - 1;

describe('rotationDue', () => {
  const cert = { notBefore: new Date(0), notAfter: new Date(90 * day) };
  it.each([[0, false], [59 * day, false], [60 * day + 1, true], [91 * day, true]])('at %d ms → %s', (t, due) => expect(rotationDue(cert, new Date(t), 1 / 3)).toBe(due));
});

describe('WebhookCertificates', () => {
  it('issues a serving certificate for the hosts, signed by its CA', async () => {
    const c = await WebhookCertificates.load({ hosts: ['127.0.0.1', 'localhost', 'svc.ns.svc'] });
    const info = parseCertificate(c.serving.certPem);
    expect(info.ips).toEqual(['127.0.0.1']);
    expect(info.dnsNames).toEqual(['localhost', 'svc.ns.svc']);
    expect(verifies(c.serving.certPem, c.caCertPem)).toBe(true);
    expect(c.caBundle.trim()).toBe(c.caCertPem.trim());
    expect(c.due()).toEqual({ ca: false, serving: false });
  });

  it('keeps the material in certDir and reuses it on the next load', async () => {
    const dir = tempDir();
    const a = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir });
    expect(statSync(join(dir, 'tls.key')).mode & 0o777).toBe(0o600);
    const b = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir });
    expect(b.caCertPem).toBe(a.caCertPem);
    expect(b.serving.certPem).toBe(a.serving.certPem);
    // A new host needs a new serving certificate, from the same CA.
    const c = await WebhookCertificates.load({ hosts: ['127.0.0.1', '10.0.0.5'], certDir: dir });
    expect(c.caCertPem).toBe(a.caCertPem);
    expect(parseCertificate(c.serving.certPem).ips).toEqual(['127.0.0.1', '10.0.0.5']);
  });

  it('re-issues what is due: a serving certificate with 1/3 of its life left, a CA likewise', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const dir = tempDir();
    const c = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir, servingValidityDays: 30, caValidityDays: 300, now: () => now });
    now = new Date(now.getTime() + 19 * day);
    expect(c.due()).toEqual({ ca: false, serving: false });
    now = new Date(now.getTime() + 2 * day);
    expect(c.due()).toEqual({ ca: false, serving: true });
    const reloaded = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir, servingValidityDays: 30, caValidityDays: 300, now: () => now });
    expect(reloaded.serving.certPem).not.toBe(c.serving.certPem);
    expect(reloaded.caCertPem).toBe(c.caCertPem);
    now = new Date(now.getTime() + 200 * day);
    expect(reloaded.due().ca).toBe(true);
  });

  it('rotates the CA keeping the old one in the bundle until it expires', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const dir = tempDir();
    const c = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir, caValidityDays: 10, servingValidityDays: 5, now: () => now });
    const oldCa = c.caCertPem;
    const oldServing = c.serving.certPem;
    await c.rotateCa();
    // The old serving certificate is still served until rotateServing, and the bundle still trusts it.
    expect(c.serving.certPem).toBe(oldServing);
    expect(caCount(c.caBundle)).toBe(2);
    expect(c.caBundle.startsWith(c.caCertPem)).toBe(true);
    expect(c.caBundle).toContain(oldCa);
    expect(c.caBundle).toMatch(/-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----/);
    await c.rotateServing();
    expect(verifies(c.serving.certPem, c.caCertPem)).toBe(true);
    expect(readFileSync(join(dir, 'ca-previous.crt'), 'utf8').trim()).toBe(oldCa.trim());
    const reloaded = await WebhookCertificates.load({ hosts: ['127.0.0.1'], certDir: dir, caValidityDays: 10, servingValidityDays: 5, now: () => now });
    expect(reloaded.caBundle).toBe(c.caBundle);
    now = new Date(now.getTime() + 11 * day);
    expect(caCount(c.caBundle)).toBe(1);
  });

  it('never issues a serving certificate that outlives its CA', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const c = await WebhookCertificates.load({ hosts: ['127.0.0.1'], caValidityDays: 10, servingValidityDays: 90, now: () => now });
    expect(parseCertificate(c.serving.certPem).notAfter.getTime()).toBeLessThanOrEqual(parseCertificate(c.caCertPem).notAfter.getTime());
  });
});
