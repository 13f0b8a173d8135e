/**
 * The hub's PKI: one CA (signs the hub's serving certificate and every node
 * certificate; its pin goes into join tokens) and the serving certificate,
 * whose SANs are the addresses edges dial. KubeEdge keeps the same pair in
 * the Secrets `casecret` and `cloudcoresecret` (§3.6).
 *
 * `ensureHubPki` is idempotent: it keeps an existing CA (a new CA would
 * orphan every joined node), and re-issues the serving certificate only when
 * an advertised address is missing from its SANs or less than a third of its
 * life is left. Stored in a Secret (cluster) or four files (local).
 */
import { isIP } from 'node:net';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApiError, type KubeClient } from '../../controllers/runtime/index.ts';
import { caPin, createCa, issueCertificate, parseCertificate, type CertificateAndKey } from '../../lib/pki.ts';
import { BootstrapServerError } from './errors.ts';

export interface HubPki {
  ca: CertificateAndKey;
  serving: CertificateAndKey;
}

/** What a store holds: the CA, and the serving certificate once issued. */
export interface StoredPki {
  ca: CertificateAndKey;
  serving?: CertificateAndKey;
}

export interface HubPkiStore {
  /** Where it lives, for messages. */
  readonly where: string;
  /** The stored CA (and serving certificate, when there is one); undefined when there is no CA yet. */
  load(): Promise<StoredPki | undefined>;
  /** Writes the material; `ifAbsent` refuses to overwrite (another writer created it first → returns false). */
  save(p: HubPki, opts?: { ifAbsent?: boolean }): Promise<boolean>;
}

export interface EnsureOptions {
  /** Addresses (IPs or DNS names) edges dial; all become SANs. */
  advertise: string[];
  caValidityDays?: number;
  servingValidityDays?: number;
  now?: Date;
}

/** SANs every serving certificate carries besides the advertised ones. */
export const defaultSans = ['localhost', '127.0.0.1'];

function sans(advertise: string[]): { ips: string[]; dns: string[] } {
  const all = [...new Set([...advertise, ...defaultSans].map((a) => a.trim().replace(/^\[|\]$/g, '')).filter(Boolean))];
  return { ips: all.filter((a) => isIP(a)), dns: all.filter((a) => !isIP(a)) };
}

/** Validates an advertised address: an IP, or a DNS name. */
export function checkAdvertiseAddress(a: string): string | undefined {
  const h = a.trim().replace(/^\[|\]$/g, '');
  if (isIP(h)) return undefined;
  if (/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i.test(h)) return undefined;
  return `"${a}" is neither an IP address nor a DNS name`;
}

/** Whether `cert` covers `host` (exact IP, or DNS name incl. one-label wildcard). */
export function certificateCovers(certPem: string, host: string): boolean {
  const info = parseCertificate(certPem);
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(h)) return info.ips.some((ip) => normalizeIp(ip) === normalizeIp(h));
  return info.dnsNames.some((d) => {
    const n = d.toLowerCase();
    if (n === h) return true;
    return n.startsWith('*.') && h.endsWith(n.slice(1)) && !h.slice(0, h.length - n.length + 1).includes('.');
  });
}

function normalizeIp(ip: string): string {
  // ::ffff:127.0.0.1 style and compressed IPv6 forms compare equal through URL parsing
  try {
    return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname : ip;
  } catch {
    return ip;
  }
}

export interface EnsureResult {
  pki: HubPki;
  /** What was created this call. */
  created: { ca: boolean; serving: boolean };
  /** `sha256:<hex>` of the CA. */
  caPin: string;
}

/**
 * Loads or creates the hub PKI in `store`. Idempotent; concurrent callers
 * (several replicas starting at once) converge on the first CA saved.
 * Throws BOOTSTRAP_PKI_INVALID when the stored material is unreadable.
 */
export async function ensureHubPki(store: HubPkiStore, o: EnsureOptions): Promise<EnsureResult> {
  const now = o.now ?? new Date();
  const { ips, dns } = sans(o.advertise);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await store.load();
    let ca = existing?.ca;
    const createdCa = !ca;
    if (!ca) ca = await createCa({ commonName: 'outpost-ca', validityDays: o.caValidityDays ?? 3650, now });
    let serving = existing?.serving;
    let reissue = !serving;
    if (serving && !createdCa) {
      const info = parseCertificate(serving.certPem);
      const life = info.notAfter.getTime() - info.notBefore.getTime();
      const left = info.notAfter.getTime() - now.getTime();
      const covered = [...ips, ...dns].every((h) => certificateCovers(serving!.certPem, h));
      if (!covered || left < life / 3 || info.issuerCN !== parseCertificate(ca.certPem).subjectCN) reissue = true;
    }
    if (reissue) {
      const c = await issueCertificate({ ca, commonName: 'outpost-cloudhub', organization: ['outpost'], ipAddresses: ips, dnsNames: dns, usage: 'server', validityDays: o.servingValidityDays ?? 365, now });
      serving = { certPem: c.certPem, keyPem: c.keyPem! };
    }
    const pki: HubPki = { ca, serving: serving! };
    if (createdCa || reissue) {
      const saved = await store.save(pki, { ifAbsent: createdCa });
      if (!saved) continue; // someone else created the CA meanwhile: use theirs
    }
    return { pki, created: { ca: createdCa, serving: reissue }, caPin: caPin(ca.certPem) };
  }
  throw new BootstrapServerError('BOOTSTRAP_STORE_FAILED', `could not settle the hub PKI in ${store.where} after 3 attempts (another writer keeps replacing it)`);
}

function checkPki(where: string, p: StoredPki): StoredPki {
  try {
    parseCertificate(p.ca.certPem);
    if (p.serving) parseCertificate(p.serving.certPem);
  } catch (err) {
    throw new BootstrapServerError('BOOTSTRAP_PKI_INVALID', `the hub PKI in ${where} is not valid PEM (${(err as Error).message}); remove it to have a new CA made (every node must then join again)`, { cause: err });
  }
  if (!p.ca.keyPem.includes('PRIVATE KEY') || (p.serving && !p.serving.keyPem.includes('PRIVATE KEY'))) {
    throw new BootstrapServerError('BOOTSTRAP_PKI_INVALID', `the hub PKI in ${where} lacks a private key; remove it to have a new CA made (every node must then join again)`);
  }
  return p;
}

/** File names of the PKI directory (local mode, and the layout `outpost cloud --pki-dir` reads). */
export const pkiFiles = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'hub.crt', key: 'hub.key' } as const;

/** Four PEM files in `dir`, written atomically (temp + rename), keys 0600. */
export class DirPkiStore implements HubPkiStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  get where(): string {
    return this.dir;
  }

  async load(): Promise<StoredPki | undefined> {
    const read = (f: string) => {
      try {
        return readFileSync(join(this.dir, f), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    };
    const caCert = read(pkiFiles.caCert);
    const caKey = read(pkiFiles.caKey);
    if (!caCert || !caKey) return undefined;
    const cert = read(pkiFiles.cert);
    const key = read(pkiFiles.key);
    return checkPki(this.dir, { ca: { certPem: caCert, keyPem: caKey }, ...(cert && key ? { serving: { certPem: cert, keyPem: key } } : {}) });
  }

  async save(p: HubPki, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (opts.ifAbsent) {
      try {
        // O_EXCL on the CA key decides who creates the CA
        writeFileSync(join(this.dir, pkiFiles.caKey), p.ca.keyPem, { flag: 'wx', mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      }
    }
    const write = (f: string, body: string, mode: number) => {
      const tmp = join(this.dir, `.${f}.tmp`);
      writeFileSync(tmp, body, { mode });
      renameSync(tmp, join(this.dir, f));
    };
    if (!opts.ifAbsent) write(pkiFiles.caKey, p.ca.keyPem, 0o600);
    write(pkiFiles.caCert, p.ca.certPem, 0o644);
    write(pkiFiles.key, p.serving.keyPem, 0o600);
    write(pkiFiles.cert, p.serving.certPem, 0o644);
    return true;
  }
}

/** Keys of the PKI Secret. */
export const pkiSecretKeys = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

/** One Secret (`outpost-system/outpost-hub-pki` by default) with the CA and the serving certificate. */
export class SecretPkiStore implements HubPkiStore {
  readonly #client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  constructor(client: KubeClient, namespace: string, name: string) {
    this.#client = client;
    this.namespace = namespace;
    this.name = name;
  }

  get where(): string {
    return `Secret ${this.namespace}/${this.name}`;
  }

  async load(): Promise<StoredPki | undefined> {
    const s = await this.#client.get<{ data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: this.name });
    const d = s?.data ?? {};
    const get = (k: string) => (d[k] ? Buffer.from(d[k], 'base64').toString() : undefined);
    const caCert = get(pkiSecretKeys.caCert);
    const caKey = get(pkiSecretKeys.caKey);
    if (!caCert || !caKey) return undefined;
    const cert = get(pkiSecretKeys.cert);
    const key = get(pkiSecretKeys.key);
    return checkPki(this.where, { ca: { certPem: caCert, keyPem: caKey }, ...(cert && key ? { serving: { certPem: cert, keyPem: key } } : {}) });
  }

  async save(p: HubPki, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const b = (s: string) => Buffer.from(s).toString('base64');
    const body = {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/name': 'outpost', 'app.kubernetes.io/component': 'pki', 'app.kubernetes.io/managed-by': 'outpost' } },
      data: { [pkiSecretKeys.caCert]: b(p.ca.certPem), [pkiSecretKeys.caKey]: b(p.ca.keyPem), [pkiSecretKeys.cert]: b(p.serving.certPem), [pkiSecretKeys.key]: b(p.serving.keyPem) },
    };
    const ref = { apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: this.name };
    try {
      const raw = await this.#client.get<{ metadata: { resourceVersion: string }; data?: Record<string, string> }>(ref);
      if (raw && opts.ifAbsent && raw.data?.[pkiSecretKeys.caKey]) return false;
      // replace with the resourceVersion read: a concurrent writer makes this a 409, and the caller reloads
      if (raw) await this.#client.replace({ ...body, metadata: { ...body.metadata, resourceVersion: raw.metadata.resourceVersion } } as never, { fieldManager: 'outpost-bootstrap' });
      else await this.#client.create(body as never, { fieldManager: 'outpost-bootstrap' });
      return true;
    } catch (err) {
      // AlreadyExists / Conflict: another replica or `outpost init` wrote it first
      if (err instanceof KubeApiError && (err.statusCode === 409)) return false;
      throw new BootstrapServerError('BOOTSTRAP_STORE_FAILED', `cannot write ${this.where}: ${(err as Error).message}`, { cause: err });
    }
  }
}
