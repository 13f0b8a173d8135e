/**
 * The webhook server's own CA and serving certificate (lib/pki.ts), rotated
 * before they expire.
 *
 * Rotation never fails an admission:
 * - the serving certificate is re-issued by the same CA, so the caBundle the
 *   API server holds keeps verifying it; the server swaps its TLS context for
 *   new handshakes only (server.setSecureContext);
 * - a new CA first goes into the caBundle next to the old one; only after the
 *   API server has had time to see the new bundle is the serving certificate
 *   re-issued by the new CA. The old CA stays in the bundle until it expires.
 *
 * With `certDir`, the material is kept as ca.crt/ca.key/tls.crt/tls.key and
 * ca-previous.crt, so a restart keeps the CA the configurations trust.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCa, issueCertificate, parseCertificate, type CertificateAndKey } from '../lib/pki.ts';

/** Options of {@link WebhookCertificates.load}. */
export interface CertificateOptions {
  /** DNS names and IP addresses the serving certificate must cover. */
  hosts: string[];
  certDir?: string;
  /** Default 3650 days. */
  caValidityDays?: number;
  /** Default 90 days. */
  servingValidityDays?: number;
  /** Re-issue when less than this fraction of the lifetime remains; default 1/3. */
  rotateFraction?: number;
  now?: () => Date;
}

/** True when less than `fraction` of the certificate's lifetime remains at `now`. Pure. */
export function rotationDue(cert: { notBefore: Date; notAfter: Date }, now: Date, fraction: number): boolean {
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  return cert.notAfter.getTime() - now.getTime() < lifetime * fraction;
}

const files = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key', previous: 'ca-previous.crt' } as const;

const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map(withNewline) ?? [];
}

type ResolvedOptions = Required<Omit<CertificateOptions, 'certDir'>> & { certDir?: string };

/** Holds the CA, the serving certificate and the CAs still trusted from before a CA rotation. */
export class WebhookCertificates {
  readonly #opts: ResolvedOptions;
  #ca: CertificateAndKey;
  #serving: CertificateAndKey;
  #previous: string[];

  private constructor(opts: ResolvedOptions, ca: CertificateAndKey, serving: CertificateAndKey, previous: string[]) {
    this.#opts = opts;
    this.#ca = ca;
    this.#serving = serving;
    this.#previous = previous;
  }

  /**
   * Loads the material from `certDir` when it is there and still usable (CA
   * not due, serving certificate signed by it, covering `hosts` and not due);
   * creates what is missing or stale otherwise, and saves it.
   */
  static async load(opts: CertificateOptions): Promise<WebhookCertificates> {
    const o = { caValidityDays: 3650, servingValidityDays: 90, rotateFraction: 1 / 3, now: () => new Date(), ...opts };
    const dir = o.certDir;
    const read = (f: string) => (dir && existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
    let ca: CertificateAndKey | undefined;
    const caCert = read(files.caCert);
    const caKey = read(files.caKey);
    if (caCert && caKey && !rotationDue(parseCertificate(caCert), o.now(), o.rotateFraction)) ca = { certPem: caCert, keyPem: caKey };
    const previous = (read(files.previous) ? splitPem(read(files.previous)!) : []).filter((p) => parseCertificate(p).notAfter > o.now());
    if (!ca) {
      if (caCert) previous.unshift(withNewline(caCert));
      ca = await createCa({ commonName: 'outpost-webhook-ca', validityDays: o.caValidityDays, now: o.now() });
    }
    const certs = new WebhookCertificates(o, ca, { certPem: '', keyPem: '' }, previous.filter((p) => parseCertificate(p).notAfter > o.now()));
    const cert = read(files.cert);
    const key = read(files.key);
    if (cert && key && certs.#servingUsable(cert)) certs.#serving = { certPem: cert, keyPem: key };
    else await certs.#issueServing();
    certs.#save();
    return certs;
  }

  #servingUsable(certPem: string): boolean {
    const info = parseCertificate(certPem);
    const covered = this.#opts.hosts.every((h) => (isIP(h) ? info.ips.includes(h) : info.dnsNames.includes(h)));
    const signedByCa = new X509Certificate(certPem).verify(new X509Certificate(this.#ca.certPem).publicKey);
    return covered && signedByCa && !rotationDue(info, this.#opts.now(), this.#opts.rotateFraction);
  }

  /** PEM key and certificate the server presents. */
  get serving(): CertificateAndKey {
    return this.#serving;
  }

  /** PEM of the current CA followed by previous CAs that have not expired: what the webhook configurations trust. */
  get caBundle(): string {
    const now = this.#opts.now();
    return [this.#ca.certPem, ...this.#previous.filter((p) => parseCertificate(p).notAfter > now)].map(withNewline).join('');
  }

  /** The current CA certificate (PEM). */
  get caCertPem(): string {
    return this.#ca.certPem;
  }

  /** Which parts are due for rotation now. */
  due(): { ca: boolean; serving: boolean } {
    const now = this.#opts.now();
    return {
      ca: rotationDue(parseCertificate(this.#ca.certPem), now, this.#opts.rotateFraction),
      serving: rotationDue(parseCertificate(this.#serving.certPem), now, this.#opts.rotateFraction),
    };
  }

  /**
   * Creates a new CA; the old one moves to the bundle's previous CAs. The
   * serving certificate is NOT re-issued: publish `caBundle` first, then call
   * `rotateServing()`.
   */
  async rotateCa(): Promise<void> {
    const now = this.#opts.now();
    this.#previous = [withNewline(this.#ca.certPem), ...this.#previous].filter((p) => parseCertificate(p).notAfter > now);
    this.#ca = await createCa({ commonName: 'outpost-webhook-ca', validityDays: this.#opts.caValidityDays, now });
    this.#save();
  }

  /** Issues a new serving key and certificate from the current CA. */
  async rotateServing(): Promise<void> {
    await this.#issueServing();
    this.#save();
  }

  async #issueServing(): Promise<void> {
    const hosts = this.#opts.hosts;
    const caInfo = parseCertificate(this.#ca.certPem);
    // Never outlive the CA: a certificate the CA's expiry would invalidate is of no use.
    const caDaysLeft = Math.floor((caInfo.notAfter.getTime() - this.#opts.now().getTime()) / 86_400_000);
    const issued = await issueCertificate({
      ca: this.#ca,
      commonName: hosts.find((h) => !isIP(h)) ?? hosts[0] ?? 'outpost-webhook',
      dnsNames: hosts.filter((h) => !isIP(h)),
      ipAddresses: hosts.filter((h) => isIP(h)),
      usage: 'server',
      validityDays: Math.max(1, Math.min(this.#opts.servingValidityDays, caDaysLeft)),
      now: this.#opts.now(),
    });
    this.#serving = { certPem: issued.certPem, keyPem: issued.keyPem! };
  }

  #save(): void {
    const dir = this.#opts.certDir;
    if (!dir) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const write = (f: string, text: string, mode: number) => {
      // Write then rename, so a crash never leaves half a key behind.
      writeFileSync(join(dir, `${f}.tmp`), text, { mode });
      renameSync(join(dir, `${f}.tmp`), join(dir, f));
    };
    write(files.caCert, this.#ca.certPem, 0o644);
    write(files.caKey, this.#ca.keyPem, 0o600);
    write(files.cert, this.#serving.certPem, 0o644);
    write(files.key, this.#serving.keyPem, 0o600);
    write(files.previous, this.#previous.join(''), 0o644);
  }
}
