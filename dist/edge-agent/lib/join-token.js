/**
 * Join tokens and the bootstrap API's wire shapes, shared by the cloud's
 * bootstrap server (cloud/bootstrap) and the edge's enrolment client
 * (edge/identity). Pure: no I/O.
 *
 * A join token is `<pin>.<id>.<secret>.<expires>`:
 * - `pin`: 64 hex digits, the SHA-256 over the cloud CA's SubjectPublicKeyInfo
 *   (lib/pki `caPin` without its `sha256:` prefix). The edge fetches the CA
 *   over an untrusted connection and trusts it only when this matches
 *   (KubeEdge's token starts with the CA hash for the same reason, §3.6;
 *   kubeadm's `--discovery-token-ca-cert-hash`).
 * - `id`: 6 characters [a-z0-9], names the server-side record (not secret).
 * - `secret`: 20 characters [a-z0-9] (~103 bits); the server keeps only its SHA-256.
 * - `expires`: Unix seconds. Informational on the edge (`outpost doctor`);
 *   the server's record is what counts.
 * The server marks a token used when it signs the one certificate it
 * authorises; a second use is refused.
 */
import { OutpostError } from './errors.js';

                                                   

export class JoinTokenError extends OutpostError                     {}

                            
                                                         
                
             
                 
                  
 

const tokenRe = /^([0-9a-f]{64})\.([a-z0-9]{6})\.([a-z0-9]{20})\.([0-9]{1,12})$/;
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A random string of `n` characters [a-z0-9], from `bytes` (tests) or crypto.getRandomValues. */
export function randomTokenPart(n        , bytes             )         {
  const b = bytes ?? crypto.getRandomValues(new Uint8Array(n * 2));
  let out = '';
  // rejection sampling keeps the distribution uniform (252 = 7 × 36)
  for (let i = 0; i < b.length && out.length < n; i++) if (b[i]  < 252) out += alphabet[b[i]  % 36];
  return out.length === n ? out : out + randomTokenPart(n - out.length);
}

/** The printed form of a token. */
export function formatJoinToken(t           )         {
  const pin = t.caPin.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(pin)) throw new JoinTokenError('TOKEN_MALFORMED', `caPin must be sha256:<64 hex digits>, got ${JSON.stringify(t.caPin)}`);
  return `${pin}.${t.id}.${t.secret}.${Math.floor(t.expiresAt.getTime() / 1000)}`;
}

/** Parses a printed token; throws TOKEN_MALFORMED saying what a token looks like. */
export function parseJoinToken(s        )            {
  const m = tokenRe.exec(s.trim());
  if (!m) {
    throw new JoinTokenError('TOKEN_MALFORMED', 'the join token is malformed: expected <64 hex CA pin>.<6-char id>.<20-char secret>.<expiry>, as printed by "outpost gettoken"; copy it whole (no line breaks)');
  }
  return { caPin: `sha256:${m[1]}`, id: m[2] , secret: m[3] , expiresAt: new Date(Number(m[4]) * 1000) };
}

/** Default ports (KubeEdge: CloudHub 10000, certificate server 10002). */
export const DEFAULT_HUB_PORT = 10000;
export const DEFAULT_BOOTSTRAP_PORT = 10002;

/** Paths of the bootstrap HTTPS server. */
export const bootstrapPaths = {
  /** GET: the cloud CA (PEM). Unauthenticated: the edge checks it against the token's pin. */
  ca: '/ca.crt',
  /** POST {@link JoinRequest} with `Authorization: Bearer <id>.<secret>`: one node certificate per token. */
  join: '/v1/join',
  /** POST {@link RenewRequest} over mutual TLS with the node's current, valid certificate. */
  renew: '/v1/renew',
  /** GET: {@link BootstrapInfo}. */
  info: '/v1/info',
  healthz: '/healthz',
}         ;

                              
                   
                                                                                         
              
                                                                                                                         
                     
 

                               
              
 

/** Where the edge finds the hub, as the cloud advertises it. */
                              
                                                                              
               
                    
                                      
 

                                
                   
                                                                           
               
 

                                      
                                                                           
                      
                                                                       
             
                   
 

/** Codes in a bootstrap error body `{code, message}` (HTTP status in parentheses). */
                                
                                                                                           
                                                                                  
                                                                    
                                    
                                                                                 
                                                                            
                                                                                       
                                                                                      
                                
                          // 500/503

                                     
                           
                  
 

const dns1123 = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** True when `name` is a valid Node name (RFC 1123 subdomain). */
export function isValidNodeName(name         )                 {
  return typeof name === 'string' && dns1123.test(name);
}

/** The certificate subject of a node, as KubeEdge and the kubelet use it. */
export function nodeCommonName(node        )         {
  return `system:node:${node}`;
}

export const NODES_GROUP = 'system:nodes';
