/**
 * Hostile input to the admission webhooks (issue "Chaos and hostile-input
 * suite", deliverable 3): the fixture corpus (test/fixtures/admission), mutated
 * (fields deleted, replaced by random JSON of any type, wrong operations), sent
 * through the real WebhookServer decode → handler → encode path of every
 * webhook, plus raw garbage bodies. For every input the server answers; a
 * well-formed review gets 200 with its uid echoed, `allowed` a boolean and,
 * for a mutating webhook, a patch that is a base64 JSON array. Half the
 * mutations keep every key and every value's JSON type (close to what the
 * API server's schema validation, which runs before validating webhooks,
 * lets through; object values may lose optional keys): on those no
 * validator may throw. The other half change types; a validator that
 * throws on them is answered with the failure policy, which must then deny
 * for `Fail` webhooks (fail closed); such throws are printed, not failed:
 * the API server never sends those shapes (docs/reliability.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { staticLookups, staticProvider, WebhookCertificates, WebhookServer, webhookDefinitions } from '../../webhooks/index.ts';

const RUNS = Number(process.env.OUTPOST_FUZZ_ADMISSION ?? 20_000);
const dir = join(import.meta.dirname, '..', 'fixtures', 'admission', 'invalid');
type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; [k: string]: unknown };
const corpus: Obj[] = readdirSync(dir).filter((f) => f.endsWith('.yaml')).flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON() as Obj)).filter((o) => o && typeof o === 'object' && o.kind);

const pathFor: Record<string, string[]> = {
  Device: ['/validate/devices'], DeviceModel: ['/validate/devicemodels'], NodeGroup: ['/validate/nodegroups'], EdgeApplication: ['/validate/edgeapplications'],
  Pod: ['/validate/edge-workloads', '/mutate/offline-autonomy'], Deployment: ['/validate/edge-workloads'], StatefulSet: ['/validate/edge-workloads'], DaemonSet: ['/validate/edge-workloads'],
};
const groupOf = (apiVersion = 'v1') => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');

/** A value of the same JSON type as `old` (what the API server's schema validation lets through). */
function sameType(old: unknown, value: unknown, n: number): unknown {
  if (typeof old === 'string') return typeof value === 'string' ? value : JSON.stringify(value);
  if (typeof old === 'number') return typeof value === 'number' ? value : n % 2 ? -n : n * 1e6;
  if (typeof old === 'boolean') return n % 2 === 0;
  if (Array.isArray(old)) return n % 3 === 0 ? [] : [...old, ...old].slice(0, n % (old.length * 2 + 1));
  if (old && typeof old === 'object') return Object.fromEntries(Object.entries(old).filter((_, i) => i !== n % Math.max(1, Object.keys(old).length)));
  return old;
}

/** Replaces or deletes one random node of `o` (deep copy); `typed` keeps each value's JSON type. */
function mutate(o: unknown, r: { pathPick: number; action: number; value: unknown; typed?: boolean }): unknown {
  const copy = JSON.parse(JSON.stringify(o)) as unknown;
  const nodes: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        nodes.push({ parent: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(copy);
  if (nodes.length === 0) return r.value;
  const n = nodes[r.pathPick % nodes.length]!;
  const current = (n.parent as Record<string | number, unknown>)[n.key];
  // typed mutations keep every key (a deleted key may be one the schema requires)
  if (r.action === 0 && !r.typed && !Array.isArray(n.parent)) delete (n.parent as Record<string, unknown>)[n.key as string];
  else (n.parent as Record<string | number, unknown>)[n.key] = r.typed ? sameType(current, r.value, r.pathPick) : r.value;
  return copy;
}

describe('admission webhooks under hostile input', () => {
  let server: WebhookServer;

  beforeAll(async () => {
    const certs = await WebhookCertificates.load({ hosts: ['127.0.0.1'] });
    const pick = (k: string) => corpus.filter((o) => o.kind === k) as never[];
    const lookups = staticProvider(staticLookups({ deviceModels: pick('DeviceModel'), nodes: [{ metadata: { name: 'edge-node-1', labels: { 'node-role.kubernetes.io/edge': '' } } }] as never[], nodeGroups: pick('NodeGroup'), namespaces: [{ metadata: { name: 'default' } }] as never[] }));
    server = new WebhookServer({ webhooks: webhookDefinitions, lookups, tls: certs.serving, port: 0, log: createLogger({ write: () => {} }) });
  });

  it(`has a corpus to mutate (${corpus.length} objects of ${new Set(corpus.map((o) => o.kind)).size} kinds)`, () => {
    expect(corpus.length).toBeGreaterThan(30);
  });

  it(`${RUNS} mutated reviews: always an answer, uid echoed, fail-closed, no throw on schema-valid shapes`, async () => {
    const problems: string[] = [];
    const throws = new Set<string>();
    const seen = new Map<string, number>();
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: corpus.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 2 }), fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'BOGUS'), fc.boolean(), fc.nat(), fc.boolean(),
      async (i, pathPick, action, value, operation, withOld, which, typed) => {
        const base = corpus[i]!;
        const paths = pathFor[base.kind!] ?? ['/validate/devices'];
        const path = paths[which % paths.length]!;
        const object = mutate(base, { pathPick, action, value, typed });
        const uid = `u-${pathPick}`;
        const review = {
          apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
          request: {
            uid, operation, namespace: base.metadata?.namespace ?? 'default', name: base.metadata?.name,
            kind: { group: groupOf(base.apiVersion), version: 'v1', kind: base.kind }, resource: { group: groupOf(base.apiVersion), version: 'v1', resource: `${String(base.kind).toLowerCase()}s` },
            object: operation === 'DELETE' ? null : object, ...(withOld ? { oldObject: mutate(base, { pathPick: pathPick + 1, action: 1, value, typed: true }) } : {}),
          },
        };
        const res = await server.inject(path, review);
        const body = res.body as { response?: { uid?: string; allowed?: unknown; patch?: string; status?: { reason?: string; message?: string }; warnings?: string[] } };
        const reason = body.response?.status?.message?.match(/WEBHOOK_[A-Z_]+/)?.[0] ?? (body.response?.warnings ?? []).join(' ').match(/WEBHOOK_[A-Z_]+/)?.[0];
        seen.set(`${res.statusCode} ${reason ?? (body.response?.allowed ? 'allowed' : 'denied')}`, (seen.get(`${res.statusCode} ${reason ?? (body.response?.allowed ? 'allowed' : 'denied')}`) ?? 0) + 1);
        if (res.statusCode !== 200) return; // 400 for a malformed review is the contract
        if (body.response?.uid !== uid || typeof body.response.allowed !== 'boolean') problems.push(`${path}: bad response ${JSON.stringify(body).slice(0, 200)}`);
        if (reason === 'WEBHOOK_HANDLER_FAILED') {
          const policy = webhookDefinitions.find((d) => d.path === path)!.failurePolicy;
          const what = `${path} ${operation}: the validator threw (${(body.response?.status?.message ?? body.response?.warnings?.join(' ') ?? '').replace(/^.*could not evaluate the request \(|\);.*$/g, '')})`;
          if (body.response?.allowed !== false && policy === 'Fail') problems.push(`${what}: a Fail webhook allowed the request`);
          // a shape the API server lets through (same JSON types as a real object) must never make a validator throw
          if (typed) problems.push(`${what} on a schema-valid shape ${JSON.stringify(object).slice(0, 2000)}${policy === 'Ignore' ? ': the object would be admitted unchecked' : ''}`);
          else throws.add(what);
        }
        if (body.response?.patch !== undefined && !Array.isArray(JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8')))) problems.push(`${path}: patch is not a JSON array`);
      },
    ), { numRuns: RUNS, seed: 42 });
    if (process.env.OUTPOST_FUZZ_VERBOSE) console.log(Object.fromEntries(seen));
    if (throws.size > 0) console.warn(`validators threw on ${throws.size} shapes that schema validation rejects before any webhook runs:\n  ${[...throws].join('\n  ')}`);
    expect([...new Set(problems)].slice(0, 8)).toEqual([]);
  }, 120_000);

  it('garbage bodies get a 4xx answer, never a crash', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), fc.constantFrom(...webhookDefinitions.map((d) => d.path)), async (body, path) => {
      const res = await server.inject(path, body);
      expect([200, 400, 413, 415]).toContain(res.statusCode);
    }), { numRuns: 1000, seed: 7 });
  });
});
