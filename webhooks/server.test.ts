import { request, Agent } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.ts';
import type { AdmissionReview } from './admission.ts';
import { WebhookCertificates } from './certs.ts';
import { webhookDefinitions, type WebhookDefinition } from './definitions.ts';
import { applyPatch, type JsonPatchOp } from './json-patch.ts';
import { staticLookups, staticProvider } from './lookups.ts';
import { WebhookServer } from './server.ts';

const log = createLogger({ write: () => {} });
const lookups = staticProvider(staticLookups({ namespaces: [{ metadata: { name: 'ns' } }] }));
const review = (request: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', operation: 'CREATE', namespace: 'ns', ...request } });
const deviceReview = review({
  kind: { group: 'devices.kubeedge.io', version: 'v1beta1', kind: 'Device' },
  object: { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'd', namespace: 'ns' }, spec: { deviceModelRef: { name: 'missing' } } },
});
const slow: WebhookDefinition = { ...webhookDefinitions[0]!, name: 'slow.test', path: '/slow', handle: () => new Promise(() => {}) };
const broken = (failurePolicy: 'Fail' | 'Ignore'): WebhookDefinition => ({ ...webhookDefinitions[0]!, name: `broken-${failurePolicy}.test`, path: `/broken-${failurePolicy}`, failurePolicy, handle: () => Promise.reject(new Error('boom')) });

let certs: WebhookCertificates;
let server: WebhookServer;
beforeAll(async () => {
  certs = await WebhookCertificates.load({ hosts: ['127.0.0.1', 'localhost'] });
  server = new WebhookServer({ webhooks: [...webhookDefinitions, slow, broken('Fail'), broken('Ignore')], lookups, tls: certs.serving, port: 0, log, maxBodyBytes: 64 * 1024, handlerTimeoutMs: 200 });
});
afterAll(() => server.close());

const response = (r: { body: unknown }) => (r.body as AdmissionReview).response!;

describe('WebhookServer.inject', () => {
  it('echoes the uid and returns a denial with the validator message', async () => {
    const r = await server.inject('/validate/devices', deviceReview);
    expect(r.statusCode).toBe(200);
    expect(r.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(response(r)).toEqual({
      uid: 'u-1', allowed: false,
      status: { code: 403, reason: 'Forbidden', message: 'spec.deviceModelRef.name: DeviceModel "missing" does not exist in namespace "ns"; create the DeviceModel first or correct the name' },
      auditAnnotations: { violations: 'DEVICE_MODEL_NOT_FOUND' },
    });
  });

  it('returns warnings on an allowed request', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { nodeSelector: { 'node-role.kubernetes.io/edge': '' }, containers: [{ name: 'c', image: 'busybox:1.36' }] } };
    const res = response(await server.inject('/validate/edge-workloads', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, object: pod })));
    expect(res.allowed).toBe(true);
    expect(res.warnings).toEqual([expect.stringContaining('spec.containers[0].resources.limits: container "c" sets no cpu and memory limit')]);
  });

  it('encodes the defaulter diff as a base64 JSON Patch', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { 'app-offline.kubeedge.io': 'autonomy' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } };
    const res = response(await server.inject('/mutate/offline-autonomy', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, object: pod })));
    expect(res).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const ops = JSON.parse(Buffer.from(res.patch!, 'base64').toString()) as JsonPatchOp[];
    expect(ops).toEqual([{ op: 'add', path: '/spec/tolerations', value: expect.any(Array) }]);
    expect((applyPatch(pod, ops) as typeof pod & { spec: { tolerations: unknown[] } }).spec.tolerations).toHaveLength(2);
  });

  it('sends no patch when nothing changes', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } };
    const res = response(await server.inject('/mutate/offline-autonomy', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, object: pod })));
    expect(res).toEqual({ uid: 'u-1', allowed: true });
  });

  it.each([
    ['garbage', '/validate/devices', 'not json {', {}, 400, 'WEBHOOK_BAD_REQUEST', 'the body is not JSON'],
    ['a JSON non-review', '/validate/devices', '{"hello":1}', {}, 400, 'WEBHOOK_BAD_REQUEST', 'not an admission.k8s.io/v1 AdmissionReview'],
    ['a v1beta1 review', '/validate/devices', JSON.stringify({ ...deviceReview, apiVersion: 'admission.k8s.io/v1beta1' }), {}, 400, 'WEBHOOK_BAD_REQUEST', 'admissionReviewVersions'],
    ['a review without uid', '/validate/devices', JSON.stringify(review({ uid: '' })), {}, 400, 'WEBHOOK_BAD_REQUEST', 'request.uid and request.operation are required'],
    ['an unknown path', '/nope', '{}', {}, 404, 'WEBHOOK_NOT_FOUND', 'the paths are /validate/devices'],
    ['GET', '/validate/devices', '', { method: 'GET' }, 405, 'WEBHOOK_METHOD_NOT_ALLOWED', 'use POST'],
    ['text/plain', '/validate/devices', '{}', { contentType: 'text/plain' }, 415, 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE', 'send application/json'],
    ['a body over the limit', '/validate/devices', 'x'.repeat(64 * 1024 + 1), {}, 413, 'WEBHOOK_BODY_TOO_LARGE', 'exceeds the limit of 65536 bytes'],
  ])('answers %s with a clear error', async (_, path, body, opts, statusCode, reason, fragment) => {
    const r = await server.inject(path, body, opts);
    expect(r.statusCode).toBe(statusCode);
    expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', code: statusCode, reason, message: expect.stringContaining(fragment) });
  });

  it('answers a handler that hangs or throws according to the failurePolicy', async () => {
    expect(response(await server.inject('/slow', deviceReview))).toMatchObject({ uid: 'u-1', allowed: false, status: { code: 500, message: expect.stringContaining('WEBHOOK_TIMEOUT: webhook slow.test could not evaluate the request (no answer within 200 ms)') } });
    expect(response(await server.inject('/broken-Fail', deviceReview))).toMatchObject({ allowed: false, status: { message: expect.stringContaining('WEBHOOK_HANDLER_FAILED') } });
    expect(response(await server.inject('/broken-Ignore', deviceReview))).toEqual({ uid: 'u-1', allowed: true, warnings: [expect.stringContaining('admitted without its checks')] });
  });
});

describe('WebhookServer over TLS', () => {
  let port = 0;
  beforeAll(async () => {
    port = (await server.listen()).port;
  });

  function post(path: string, body: string | Buffer, agent: Agent, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; cert: X509Certificate }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca, agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        const cert = new X509Certificate((res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw);
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), cert }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('serves reviews over HTTPS with a certificate for 127.0.0.1', async () => {
    const agent = new Agent({ keepAlive: true });
    const r = await post('/validate/devices', JSON.stringify(deviceReview), agent, certs.caBundle);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as AdmissionReview).response?.uid).toBe('u-1');
    agent.destroy();
  });

  it('rejects a declared oversize body without reading it', async () => {
    const agent = new Agent();
    const r = await post('/validate/devices', 'x'.repeat(70_000), agent, certs.caBundle);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ reason: 'WEBHOOK_BODY_TOO_LARGE' });
  });

  it('with keepAlive false, closes the connection after every answer', async () => {
    const once = new WebhookServer({ webhooks: webhookDefinitions, lookups, tls: certs.serving, port: 0, log, keepAlive: false });
    const { port: p } = await once.listen();
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      request({ host: '127.0.0.1', port: p, path: '/healthz', ca: certs.caBundle }, (res) => resolve(res.resume().headers)).on('error', reject).end();
    });
    expect(headers.connection).toBe('close');
    await once.close();
  });

  it('swaps the certificate for new connections and keeps established ones', async () => {
    const kept = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await post('/validate/devices', JSON.stringify(deviceReview), kept, certs.caBundle);
    await certs.rotateServing();
    server.setCertificate(certs.serving);
    const again = await post('/validate/devices', JSON.stringify(deviceReview), kept, certs.caBundle);
    expect(again.status).toBe(200);
    expect(again.cert.fingerprint256).toBe(before.cert.fingerprint256); // same connection, same certificate
    const fresh = await post('/validate/devices', JSON.stringify(deviceReview), new Agent(), certs.caBundle);
    expect(fresh.cert.fingerprint256).not.toBe(before.cert.fingerprint256);
    expect(fresh.cert.fingerprint256).toBe(new X509Certificate(certs.serving.certPem).fingerprint256);
    kept.destroy();
  });
});
