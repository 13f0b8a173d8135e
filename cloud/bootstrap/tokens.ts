/**
 * Join tokens on the cloud side: minting, verification and single use.
 *
 * The server keeps one record per token (the SHA-256 of its secret, expiry,
 * optional node binding, and who used it). Two stores: one Secret per token
 * (cluster mode; like kubeadm's `bootstrap-token-<id>` Secrets) or one file
 * per token (local mode). Both make "use" an atomic compare-and-set, so one
 * token authorises exactly one certificate even with several cloud replicas
 * or a restart in between: the Secret by a JSON Patch `test` on its
 * resourceVersion, the directory by creating `<id>.used` with O_EXCL.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApiError, type KubeClient } from '../../controllers/runtime/index.ts';
import { formatJoinToken, isValidNodeName, randomTokenPart, type BootstrapErrorCode } from '../../lib/join-token.ts';
import { caPin } from '../../lib/pki.ts';
import { BootstrapServerError } from './errors.ts';

/** What the server remembers about one token. */
export interface TokenRecord {
  id: string;
  /** Hex SHA-256 of the secret. */
  secretHash: string;
  createdAt: string;
  expiresAt: string;
  /** When set, only this node name may use the token. */
  nodeName?: string;
  description?: string;
  /** Set once the token's certificate was issued. */
  usedBy?: string;
  usedAt?: string;
}

/** Storage of token records. `consume` must be atomic across processes. */
export interface TokenStore {
  put(rec: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Marks the token used by `node`; false when it was already used (or vanished). */
  consume(id: string, node: string, at: Date): Promise<boolean>;
  list(): Promise<TokenRecord[]>;
  delete(id: string): Promise<void>;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** Parses `24h`, `90m`, `30s`, `7d` or a number of seconds into milliseconds; throws BOOTSTRAP_TOKEN_TTL_INVALID. */
export function parseDuration(s: string, what = '--ttl'): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(s.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  if (!m) throw new BootstrapServerError('BOOTSTRAP_TOKEN_TTL_INVALID', `${what}: "${s}" is not a duration; use e.g. 30m, 24h or 7d`);
  return Number(m[1]) * unit[(m[2] ?? 's') as keyof typeof unit];
}

export interface MintOptions {
  /** PEM of the cloud CA; its pin goes into the token. */
  caCertPem: string;
  ttlMs: number;
  nodeName?: string;
  description?: string;
  now?: Date;
}

/** Longest TTL a token may have: a leaked token must not stay useful for long. */
export const MAX_TOKEN_TTL_MS = 30 * 86_400_000;

/**
 * Creates a token record in `store` and returns the printed token and its
 * record. Not idempotent: every call is a new token. Throws
 * BOOTSTRAP_TOKEN_TTL_INVALID for a TTL outside 1 s..30 d or a bad node name.
 */
export async function mintToken(store: TokenStore, o: MintOptions): Promise<{ token: string; record: TokenRecord }> {
  if (!Number.isInteger(o.ttlMs) || o.ttlMs < 1000 || o.ttlMs > MAX_TOKEN_TTL_MS) {
    throw new BootstrapServerError('BOOTSTRAP_TOKEN_TTL_INVALID', `token TTL must be between 1s and 30d, got ${o.ttlMs} ms`);
  }
  if (o.nodeName !== undefined && !isValidNodeName(o.nodeName)) {
    throw new BootstrapServerError('BOOTSTRAP_TOKEN_TTL_INVALID', `node name "${o.nodeName}" is not valid (lower-case letters, digits, "-" and ".")`);
  }
  const now = o.now ?? new Date();
  const id = randomTokenPart(6);
  const secret = randomTokenPart(20);
  const expiresAt = new Date(now.getTime() + o.ttlMs);
  const record: TokenRecord = {
    id, secretHash: hashSecret(secret), createdAt: now.toISOString(), expiresAt: expiresAt.toISOString(),
    ...(o.nodeName ? { nodeName: o.nodeName } : {}), ...(o.description ? { description: o.description } : {}),
  };
  await store.put(record);
  return { token: formatJoinToken({ caPin: caPin(o.caCertPem), id, secret, expiresAt }), record };
}

export type TokenCheck = { ok: true; record: TokenRecord } | { ok: false; code: BootstrapErrorCode; status: number; message: string };

/**
 * Checks a presented `<id>.<secret>` against the store (does not consume).
 * Constant-time secret comparison; every refusal says what to do.
 */
export async function checkToken(store: TokenStore, id: string, secret: string, nodeName: string, now: Date): Promise<TokenCheck> {
  const rec = /^[a-z0-9]{6}$/.test(id) ? await store.get(id) : undefined;
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(rec?.secretHash ?? '0'.repeat(64), 'hex');
  const match = presented.length === expected.length && timingSafeEqual(presented, expected);
  if (!rec || !match) return { ok: false, code: 'BOOTSTRAP_TOKEN_INVALID', status: 401, message: `join token ${id} is not known to this cloud (deleted, garbage-collected after expiry, or minted by another cloud); get a new one with "outpost gettoken"` };
  if (rec.usedBy) return { ok: false, code: 'BOOTSTRAP_TOKEN_USED', status: 401, message: `join token ${id} was already used by node "${rec.usedBy}" at ${rec.usedAt}; a token authorises one certificate: get a new one with "outpost gettoken"` };
  if (Date.parse(rec.expiresAt) <= now.getTime()) return { ok: false, code: 'BOOTSTRAP_TOKEN_EXPIRED', status: 401, message: `join token ${id} expired at ${rec.expiresAt}; get a new one with "outpost gettoken" (--ttl sets how long it lives)` };
  if (rec.nodeName && rec.nodeName !== nodeName) return { ok: false, code: 'BOOTSTRAP_TOKEN_NODE_MISMATCH', status: 403, message: `join token ${id} was minted for node "${rec.nodeName}", not "${nodeName}"; join with --node-name ${rec.nodeName} or mint a token without --node-name` };
  return { ok: true, record: rec };
}

/** Deletes records that expired more than `graceMs` ago (used ones too). Returns how many. */
export async function collectExpiredTokens(store: TokenStore, now: Date, graceMs = 3_600_000): Promise<number> {
  let n = 0;
  for (const r of await store.list()) {
    if (Date.parse(r.expiresAt) + graceMs < now.getTime()) {
      await store.delete(r.id);
      n++;
    }
  }
  return n;
}

function storeFailed(what: string, err: unknown): never {
  throw new BootstrapServerError('BOOTSTRAP_STORE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
}

/** One JSON file per token in `dir`; `<id>.used` (created exclusively) marks use. */
export class DirTokenStore implements TokenStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async put(rec: TokenRecord): Promise<void> {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = join(this.dir, `.${rec.id}.json.tmp`);
      writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 });
      renameSync(tmp, join(this.dir, `${rec.id}.json`));
    } catch (err) {
      storeFailed(`cannot write token ${rec.id} in ${this.dir}`, err);
    }
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    let rec: TokenRecord;
    try {
      rec = JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as TokenRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      storeFailed(`cannot read token ${id} in ${this.dir}`, err);
    }
    try {
      const used = JSON.parse(readFileSync(join(this.dir, `${id}.used`), 'utf8')) as { node: string; at: string };
      return { ...rec, usedBy: used.node, usedAt: used.at };
    } catch {
      return rec;
    }
  }

  async consume(id: string, node: string, at: Date): Promise<boolean> {
    try {
      writeFileSync(join(this.dir, `${id}.used`), JSON.stringify({ node, at: at.toISOString() }), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      storeFailed(`cannot mark token ${id} used in ${this.dir}`, err);
    }
  }

  async list(): Promise<TokenRecord[]> {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((f) => /^[a-z0-9]{6}\.json$/.test(f));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      storeFailed(`cannot list tokens in ${this.dir}`, err);
    }
    const out: TokenRecord[] = [];
    for (const f of files) {
      const r = await this.get(f.slice(0, 6));
      if (r) out.push(r);
    }
    return out;
  }

  async delete(id: string): Promise<void> {
    rmSync(join(this.dir, `${id}.json`), { force: true });
    rmSync(join(this.dir, `${id}.used`), { force: true });
  }
}

/** Label on every token Secret. */
export const tokenLabel = 'outpost.io/join-token';
export const tokenSecretType = 'outpost.io/join-token';
const secretName = (id: string) => `outpost-join-token-${id}`;

interface SecretObj {
  metadata: { name: string; resourceVersion?: string };
  data?: Record<string, string>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString());

function fromSecret(s: SecretObj): TokenRecord | undefined {
  const d = s.data ?? {};
  const id = unb64(d['token-id']);
  const secretHash = unb64(d['secret-sha256']);
  const expiresAt = unb64(d.expiration);
  if (!id || !secretHash || !expiresAt) return undefined;
  const opt = (k: string) => unb64(d[k]);
  return {
    id, secretHash, expiresAt, createdAt: opt('created') ?? '',
    ...(opt('node-name') ? { nodeName: opt('node-name')! } : {}),
    ...(opt('description') ? { description: opt('description')! } : {}),
    ...(opt('used-by') ? { usedBy: opt('used-by')!, usedAt: opt('used-at') ?? '' } : {}),
  };
}

/** One Secret per token in `namespace` (`outpost-join-token-<id>`, type outpost.io/join-token). */
export class SecretTokenStore implements TokenStore {
  readonly #client: KubeClient;
  readonly namespace: string;
  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.namespace = namespace;
  }

  #ref(id: string) {
    return { apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: secretName(id) };
  }

  async put(rec: TokenRecord): Promise<void> {
    const data: Record<string, string> = {
      'token-id': b64(rec.id), 'secret-sha256': b64(rec.secretHash), expiration: b64(rec.expiresAt), created: b64(rec.createdAt),
      ...(rec.nodeName ? { 'node-name': b64(rec.nodeName) } : {}), ...(rec.description ? { description: b64(rec.description) } : {}),
    };
    try {
      await this.#client.create({
        apiVersion: 'v1', kind: 'Secret', type: tokenSecretType,
        metadata: { name: secretName(rec.id), namespace: this.namespace, labels: { [tokenLabel]: 'true', 'app.kubernetes.io/managed-by': 'outpost' } },
        data,
      } as never, { fieldManager: 'outpost-bootstrap' });
    } catch (err) {
      storeFailed(`cannot create Secret ${this.namespace}/${secretName(rec.id)} (does the namespace exist, and may this identity create Secrets in it?)`, err);
    }
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const s = await this.#client.get<SecretObj>(this.#ref(id));
    return s ? fromSecret(s) : undefined;
  }

  async consume(id: string, node: string, at: Date): Promise<boolean> {
    const s = await this.#client.get<SecretObj>(this.#ref(id));
    if (!s || s.data?.['used-by']) return false;
    try {
      await this.#client.jsonPatch(this.#ref(id), [
        { op: 'test', path: '/metadata/resourceVersion', value: s.metadata.resourceVersion },
        { op: 'add', path: '/data/used-by', value: b64(node) },
        { op: 'add', path: '/data/used-at', value: b64(at.toISOString()) },
      ], { fieldManager: 'outpost-bootstrap' });
      return true;
    } catch (err) {
      // 422/409: the resourceVersion moved (another replica used it first); 404: deleted
      if (err instanceof KubeApiError && [404, 409, 422].includes(err.statusCode)) return false;
      throw err;
    }
  }

  async list(): Promise<TokenRecord[]> {
    const r = await this.#client.request<{ items: SecretObj[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`, { query: { labelSelector: tokenLabel } });
    return r.items.map(fromSecret).filter((x): x is TokenRecord => x !== undefined);
  }

  async delete(id: string): Promise<void> {
    await this.#client.request('DELETE', `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets/${secretName(id)}`).catch((err: unknown) => {
      if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
    });
  }
}
