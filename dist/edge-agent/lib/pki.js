/**
 * A small PKI for the hub's mutual TLS: a self-signed CA, leaf certificates
 * for the hub (server) and the edge (client), CSRs so that an edge's private
 * key never leaves the edge, and a pin so that a joining edge can trust the
 * CA it is handed (kubeadm's `--discovery-token-ca-cert-hash` idea).
 *
 * Everything is ECDSA P-256 with SHA-256 (accepted by Node's tls, by
 * BoringSSL inside @matrixai/quic and by every browser). Keys travel as PKCS#8
 * PEM (`-----BEGIN PRIVATE KEY-----`), certificates and CSRs as PEM. Pure
 * computation on Node's WebCrypto: no files, no network.
 */
import { createHash, webcrypto } from 'node:crypto';
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { OutpostError } from './errors.js';

/** Error codes of this module (also listed in lib/README.md). */
                                                                                                                                 

/** The only error lib/pki throws. */
export class PkiError extends OutpostError               {}

                                     
const crypto = webcrypto;
const EC                                                         = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN                        = { name: 'ECDSA', hash: 'SHA-256' };
/** Back-date notBefore so that a peer whose clock is a little behind still accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_VALIDITY_DAYS = 100 * 365;

/** A certificate and its private key, both PEM. */
                                    
                  
                 
 

/** Which extended key usage a leaf certificate carries. */
                                                            

/** Options of {@link createCa}. */
                                  
                     
                       
                                                         
             
 

/** Options of {@link issueCertificate}. */
                               
                        
                     
                                                           
                          
                      
                         
                          
                       
                                                                                                 
                        
             
 

/** What {@link parseCertificate} reads out of a certificate. */
                                  
                                
                         
                               
                  
                 
                     
                
                
                                                   
                      
 

function fail(code              , message        )        {
  throw new PkiError(code, message);
}

function checkName(what        , v         )         {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) fail('PKI_INVALID_ARGUMENT', `${what} must be a string of 1..64 characters (X.520 ub-common-name), got ${JSON.stringify(v)}`);
  return v;
}

function validity(days         , now                  )                                      {
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
    fail('PKI_INVALID_ARGUMENT', `validityDays must be an integer in 1..${MAX_VALIDITY_DAYS}, got ${JSON.stringify(days)}`);
  }
  const t = (now ?? new Date()).getTime();
  return { notBefore: new Date(t - CLOCK_SKEW_MS), notAfter: new Date(t + days * 86_400_000) };
}

/** A positive 127-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable). */
function serialNumber()         {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]  & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

function subject(commonName        , organization                      )                {
  const name                = [{ CN: [checkName('commonName', commonName)] }];
  for (const o of organization ?? []) name.push({ O: [checkName('organization', o)] });
  return name;
}

function decodePem(what        , pem        , tag        )              {
  try {
    const parts = x509.PemConverter.decodeWithHeaders(pem).filter((p) => p.type === tag);
    if (parts[0] === undefined) throw new Error(`no ${tag} block`);
    return parts[0].rawData;
  } catch (err) {
    throw new PkiError('PKI_INVALID_PEM', `${what} is not a PEM "${tag}" block; pass the PEM text this module produced`, { cause: err });
  }
}

async function importPrivateKey(what        , pem        )                     {
  try {
    return await crypto.subtle.importKey('pkcs8', decodePem(what, pem, 'PRIVATE KEY'), EC, false, ['sign']);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('PKI_INVALID_PEM', `${what} is not a PKCS#8 ECDSA P-256 private key`, { cause: err });
  }
}

function readCert(what        , pem                     )                       {
  try {
    return new x509.X509Certificate(typeof pem === 'string' ? decodePem(what, pem, 'CERTIFICATE') : pem);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('PKI_INVALID_PEM', `${what} is not a valid X.509 certificate`, { cause: err });
  }
}

async function generateKeys()                                   {
  return crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function exportPrivateKey(key           )                  {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/**
 * Creates a self-signed CA (basicConstraints CA:true, pathLen 0, keyCertSign).
 * Not idempotent: every call makes a new key.
 */
export async function createCa(opts                 )                             {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: subject(opts.commonName, undefined),
    ...validity(opts.validityDays, opts.now),
    keys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKey(keys.privateKey) };
}

async function issue(opts              , publicKey                            )                  {
  const caCert = readCert('ca.certPem', opts.ca.certPem);
  const caKey = await importPrivateKey('ca.keyPem', opts.ca.keyPem);
  if (!['server', 'client', 'both'].includes(opts.usage)) fail('PKI_INVALID_ARGUMENT', `usage must be server, client or both, got ${JSON.stringify(opts.usage)}`);
  const eku           = [];
  if (opts.usage !== 'client') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.usage !== 'server') eku.push(x509.ExtendedKeyUsage.clientAuth);
  const sans                        = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns'         , value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip'         , value })),
  ];
  const extensions                   = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // TLS 1.3 with ECDHE only ever signs with the leaf key (RFC 8446 §4.4.3).
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subject(opts.commonName, opts.organization),
    issuer: caCert.subjectName,
    ...validity(opts.validityDays, opts.now),
    publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGN,
    extensions,
  }, crypto);
  return cert.toString('pem');
}

/**
 * Issues a leaf certificate signed by `ca`. With `publicKeyPem` it certifies
 * that key and returns no `keyPem`; without, it generates a P-256 key pair
 * and returns its private key. Throws PkiError for bad input.
 */
export async function issueCertificate(opts              )                                                {
  if (opts.publicKeyPem !== undefined) {
    let pub                ;
    try {
      pub = new x509.PublicKey(decodePem('publicKeyPem', opts.publicKeyPem, 'PUBLIC KEY'));
    } catch (err) {
      if (err instanceof PkiError) throw err;
      throw new PkiError('PKI_INVALID_PEM', 'publicKeyPem is not an SPKI public key', { cause: err });
    }
    return { certPem: await issue(opts, pub) };
  }
  const keys = await generateKeys();
  return { certPem: await issue(opts, keys.publicKey), keyPem: await exportPrivateKey(keys.privateKey) };
}

/**
 * Generates a key pair and a PKCS#10 request for it (the edge side of
 * joining). The private key stays with the caller; only `csrPem` is sent.
 */
export async function createCsr(opts                                                 )                                              {
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject(opts.commonName, opts.organization), keys, signingAlgorithm: SIGN }, crypto);
  return { csrPem: csr.toString('pem'), keyPem: await exportPrivateKey(keys.privateKey) };
}

/**
 * Signs a CSR after checking its self-signature and that its CN equals
 * `opts.commonName` (the name the caller already authorised, e.g. the node
 * name bound to a join token). Everything else the CSR asks for (O, SANs,
 * extensions) is ignored: the signer decides those through `opts`.
 */
export async function signCsr(
  ca                   ,
  csrPem        ,
  opts                                           ,
)                               {
  let csr                               ;
  try {
    csr = new x509.Pkcs10CertificateRequest(decodePem('csrPem', csrPem, 'CERTIFICATE REQUEST'));
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('PKI_INVALID_PEM', 'csrPem is not a PKCS#10 certificate request', { cause: err });
  }
  if (!(await csr.verify(crypto))) fail('PKI_CSR_SIGNATURE_INVALID', 'the CSR is not signed by the key it carries; regenerate it with createCsr');
  const cn = csr.subjectName.getField('CN')[0];
  if (cn !== opts.commonName) fail('PKI_CSR_SUBJECT_MISMATCH', `the CSR asks for CN ${JSON.stringify(cn)} but this signer may only issue CN ${JSON.stringify(opts.commonName)}`);
  return { certPem: await issue({ ...opts, ca }, csr.publicKey) };
}

/**
 * The CA pin an edge is given out of band: `sha256:<hex>` over the DER of the
 * certificate's SubjectPublicKeyInfo. SPKI rather than the whole certificate,
 * as kubeadm does (`--discovery-token-ca-cert-hash`): the pin survives
 * re-issuing the CA certificate with the same key, and it is the same value
 * `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum` prints.
 */
export function caPin(certPem        )         {
  return 'sha256:' + createHash('sha256').update(new Uint8Array(readCert('certPem', certPem).publicKey.rawData)).digest('hex');
}

/** Reads the fields Outpost cares about from a PEM or DER certificate. Pure; throws PKI_INVALID_PEM. */
export function parseCertificate(pem                     )                  {
  const cert = readCert('certificate', pem);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  return {
    subjectCN: cert.subjectName.getField('CN')[0],
    organization: cert.subjectName.getField('O'),
    issuerCN: cert.issuerName.getField('CN')[0],
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ips: names.filter((n) => n.type === 'ip').map((n) => n.value),
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    fingerprint: 'sha256:' + createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex'),
  };
}
