/**
 * The subject common name of a certificate, read with node:crypto. For code
 * that only needs the CN (the transports' peer identity, on every edge agent):
 * lib/pki.ts loads @peculiar/x509, which costs ≈ 15-20 MB of RSS at start-up
 * (docs/benchmarks.md, "Edge agent memory"). Throws for input that is not a
 * PEM or DER certificate, like parseCertificate.
 */
import { X509Certificate } from 'node:crypto';

export function subjectCommonName(cert: string | Uint8Array): string | undefined {
  const subject = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert.buffer, cert.byteOffset, cert.byteLength)).subject;
  return /^CN=(.*)$/m.exec(subject)?.[1];
}
