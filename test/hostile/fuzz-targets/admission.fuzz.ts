/**
 * Coverage-guided fuzz target for the admission webhooks: byte 0 picks the
 * webhook path, the rest is the HTTP body, sent through the real
 * WebhookServer decode → handler → encode path (`inject`, no socket) with the
 * lookups of admission-fuzz.test.ts. Seeds are AdmissionReviews of the
 * fixture corpus (test/fixtures/admission). `fuzz(data)` throws only on a
 * bug: `inject` rejecting, a status other than 200/400/413/415, a 200 whose
 * uid is not the request's or whose `allowed` is not a boolean, a `Fail`
 * webhook that allowed a request its handler failed on, or a patch that is
 * not a base64 JSON array. A validator that throws on a shape the API
 * server's schema validation would reject first is answered with the failure
 * policy and is not a finding (docs/reliability.md); such throws are counted
 * and the first few printed when the process exits. Run by
 * `npm run fuzz -- --target admission` (test/hostile/fuzz/run.ts);
 * fuzz-target.test.ts replays its seeds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createLogger } from '../../../lib/log.ts';
import { staticLookups, staticProvider, WebhookCertificates, WebhookServer, webhookDefinitions } from '../../../webhooks/index.ts';

type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; [k: string]: unknown };
const PATHS = webhookDefinitions.map((d) => d.path);
const PATH_OF_KIND: Record<string, string[]> = {
  Device: ['/validate/devices'], DeviceModel: ['/validate/devicemodels'], NodeGroup: ['/validate/nodegroups'], EdgeApplication: ['/validate/edgeapplications'],
  Pod: ['/validate/edge-workloads', '/mutate/offline-autonomy'], Deployment: ['/validate/edge-workloads'], StatefulSet: ['/validate/edge-workloads'], DaemonSet: ['/validate/edge-workloads'],
};

function corpus(): Obj[] {
  const dir = join(import.meta.dirname, '..', '..', 'fixtures', 'admission', 'invalid');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON() as Obj))
    .filter((o) => o && typeof o === 'object' && o.kind);
}

const handlerThrows = new Map<string, { count: number; example: string }>();
let server: Promise<WebhookServer> | undefined;

async function start(): Promise<WebhookServer> {
  const objects = corpus();
  const pick = (k: string) => objects.filter((o) => o.kind === k) as never[];
  const certs = await WebhookCertificates.load({ hosts: ['127.0.0.1'] });
  const lookups = staticProvider(staticLookups({ deviceModels: pick('DeviceModel'), nodes: [{ metadata: { name: 'edge-node-1', labels: { 'node-role.kubernetes.io/edge': '' } } }] as never[], nodeGroups: pick('NodeGroup'), namespaces: [{ metadata: { name: 'default' } }] as never[] }));
  process.once('exit', () => {
    if (handlerThrows.size === 0) return;
    const n = [...handlerThrows.values()].reduce((a, b) => a + b.count, 0);
    const first = [...handlerThrows].slice(0, 10).map(([k, v]) => `${k} (${v.count}×), e.g. on ${v.example}`);
    process.stderr.write(`admission fuzz: validators threw on ${n} inputs (answered with the failure policy), ${handlerThrows.size} distinct:\n  ${first.join('\n  ')}\n`);
  });
  return new WebhookServer({ webhooks: webhookDefinitions, lookups, tls: certs.serving, port: 0, log: createLogger({ write: () => {} }) });
}

interface Reply { response?: { uid?: unknown; allowed?: unknown; patch?: unknown; status?: { message?: string }; warnings?: string[] } }

export async function fuzz(data: Uint8Array): Promise<void> {
  const s = await (server ??= start());
  const path = PATHS[data.length > 0 ? data[0]! % PATHS.length : 0]!;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength).subarray(1);
  const res = await s.inject(path, body);
  const what = `${path} ${JSON.stringify(body.subarray(0, 300).toString('latin1'))}`;
  if (![200, 400, 413, 415].includes(res.statusCode)) throw new Error(`status ${res.statusCode} for ${what}: ${JSON.stringify(res.body).slice(0, 300)}`);
  if (res.statusCode !== 200) return;
  const sent = (JSON.parse(body.toString('utf8')) as { request: { uid: unknown } }).request;
  const reply = (res.body as Reply).response;
  if (!reply || reply.uid !== sent.uid || typeof reply.allowed !== 'boolean') throw new Error(`bad response for ${what}: ${JSON.stringify(res.body).slice(0, 300)}`);
  const failed = `${reply.status?.message ?? ''} ${(reply.warnings ?? []).join(' ')}`.match(/WEBHOOK_HANDLER_FAILED: .*?could not evaluate the request \((.*)\)/);
  if (failed) {
    if (reply.allowed !== false && webhookDefinitions.find((d) => d.path === path)!.failurePolicy === 'Fail') throw new Error(`a Fail webhook allowed a request its handler failed on: ${what}`);
    const key = `${path}: ${failed[1]!.slice(0, 160)}`;
    const seen = handlerThrows.get(key);
    if (seen) seen.count++;
    else if (handlerThrows.size < 1000) handlerThrows.set(key, { count: 1, example: body.subarray(0, 2000).toString('utf8') });
  }
  if (reply.patch !== undefined) {
    const patch = typeof reply.patch === 'string' ? (JSON.parse(Buffer.from(reply.patch, 'base64').toString('utf8')) as unknown) : undefined;
    if (!Array.isArray(patch)) throw new Error(`patch is not a base64 JSON array for ${what}`);
  }
}

const groupOf = (apiVersion = 'v1') => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');

/** Seed inputs: each fixture object as a CREATE (and a Pod also as UPDATE) review for each webhook of its kind. */
export function seeds(): Uint8Array[] {
  return corpus().flatMap((o, i) => (PATH_OF_KIND[o.kind!] ?? []).flatMap((path) => (['CREATE', 'UPDATE'] as const).filter((op) => op === 'CREATE' || o.kind === 'Pod').map((operation) => {
    const review = {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: {
        uid: `u-${i}`, operation, namespace: o.metadata?.namespace ?? 'default', name: o.metadata?.name,
        kind: { group: groupOf(o.apiVersion), version: 'v1', kind: o.kind }, resource: { group: groupOf(o.apiVersion), version: 'v1', resource: `${String(o.kind).toLowerCase()}s` },
        object: o, ...(operation === 'UPDATE' ? { oldObject: o } : {}),
      },
    };
    return Buffer.concat([Buffer.from([PATHS.indexOf(path)]), Buffer.from(JSON.stringify(review))]);
  })));
}
