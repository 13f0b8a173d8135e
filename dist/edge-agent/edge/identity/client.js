/**
 * The edge side of the bootstrap API (lib/join-token.ts has the shapes):
 * fetch the CA and check it against the token's pin before trusting
 * anything, join with a CSR, renew over mutual TLS. node:https only.
 */
import * as https from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity,                      } from 'node:tls';
import {
  bootstrapPaths,                                                                                         
} from '../../lib/join-token.js';
import { IdentityError } from './errors.js';

/** Where the bootstrap endpoint is. */
                                    
               
               
                                                                     
                      
 

                             
                 
               
                                                             
                         
 

const target = (e                   ) => `${isIP(e.host) === 6 ? `[${e.host}]` : e.host}:${e.port}`;

function mapError(err                       , e                   , trusted         )                {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new IdentityError('IDENTITY_SAN_MISMATCH', `the cloud's certificate does not name "${e.serverName ?? e.host}" (${err.message}); dial an address it lists, or on the cloud run "outpost init --advertise-address ${e.serverName ?? e.host}" to add it`, { cause: err });
  }
  if (/CERT|^UNABLE_TO_|SELF_SIGNED|^ERR_SSL_|^ERR_TLS_/.test(code)) {
    return new IdentityError('IDENTITY_TLS_FAILED', `TLS with the bootstrap endpoint ${target(e)} failed (${code}: ${err.message})${trusted ? '; the server is not using a certificate of the pinned CA: check the address' : ''}`, { cause: err });
  }
  return new IdentityError('IDENTITY_UNREACHABLE', `cannot reach the cloud's bootstrap endpoint https://${target(e)} (${code || err.message}); check the address, that "outpost cloud" runs with --bootstrap-port ${e.port}, and that TCP ${e.port} is open`, { cause: err });
}

/** One HTTPS request. `ca` undefined = no verification (only for fetching the CA, which is then pinned). */
export function request(e                   , method                , path        , o   
                                                                                                                 
  = {})                      {
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const servername = e.serverName ?? e.host;
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: e.host, port: e.port, method, path,
      ...(isIP(servername) ? {} : { servername }),
      ...(o.ca ? { ca: o.ca, rejectUnauthorized: true, checkServerIdentity: (_h        , cert                 ) => checkServerIdentity(servername, cert) } : { rejectUnauthorized: false }),
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...o.headers },
      agent: false,
      timeout: o.timeoutMs ?? 10_000,
    }, (res) => {
      const chunks           = [];
      res.on('data', (c        ) => chunks.push(c));
      res.on('end', () => {
        const date = res.headers.date ? new Date(res.headers.date) : undefined;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), date: date && !Number.isNaN(date.getTime()) ? date : undefined });
      });
      res.on('error', (err) => reject(mapError(err, e, !!o.ca)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err                       ) => reject(err instanceof IdentityError ? err : mapError(err, e, !!o.ca)));
    req.end(body);
  });
}

function refused(a            , what        )                {
  let b                              = {};
  try {
    b = JSON.parse(a.body)                      ;
  } catch {
    // not ours
  }
  if (b.code) return new IdentityError('IDENTITY_REFUSED', `the cloud refused ${what}: ${b.message} [${b.code}]`, { serverCode: b.code });
  return new IdentityError('IDENTITY_BAD_RESPONSE', `the cloud answered ${what} with HTTP ${a.status} and no Outpost error body; is this address Outpost's bootstrap port?`);
}

function parse   (a            , what        )    {
  if (a.status !== 200) throw refused(a, what);
  try {
    return JSON.parse(a.body)     ;
  } catch {
    throw new IdentityError('IDENTITY_BAD_RESPONSE', `the cloud's answer to ${what} is not JSON`);
  }
}

/** `sha256:<hex>` of a PEM certificate's public key (same value as lib/pki caPin, with node:crypto only). */
export function spkiPin(certPem        )         {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/**
 * Fetches the CA without trusting the connection, then trusts it only when
 * its pin equals `pin`. Throws IDENTITY_CA_PIN_MISMATCH before anything else
 * is sent to that server.
 */
export async function fetchPinnedCa(e                   , pin        )                                                  {
  const a = await request(e, 'GET', bootstrapPaths.ca);
  if (a.status !== 200) throw refused(a, 'the CA download');
  const ca = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(a.body)?.[0];
  if (!ca) throw new IdentityError('IDENTITY_BAD_RESPONSE', `https://${target(e)}${bootstrapPaths.ca} did not return a PEM certificate; is this Outpost's bootstrap port?`);
  let got        ;
  try {
    got = spkiPin(ca);
  } catch (err) {
    throw new IdentityError('IDENTITY_BAD_RESPONSE', `the CA from ${target(e)} is not a valid certificate`, { cause: err });
  }
  if (got !== pin) {
    throw new IdentityError('IDENTITY_CA_PIN_MISMATCH', `the CA served by ${target(e)} has pin ${got}, but the token pins ${pin}: this is not the cloud the token was made for (wrong address, a re-created cloud CA, or someone in between); nothing was sent to it. Get a token from the right cloud with "outpost gettoken"`);
  }
  return { ca, date: a.date };
}

/** POST /v1/join with a token (verified TLS against the pinned CA). */
export async function requestJoin(e                   , ca        , tokenIdSecret        , req             )                               {
  const a = await request(e, 'POST', bootstrapPaths.join, { ca, body: req, headers: { authorization: `Bearer ${tokenIdSecret}` } });
  return checkAnswer(parse                     (a, 'the join request'));
}

/** POST /v1/renew over mutual TLS with the current credentials. */
export async function requestRenew(e                   , creds                                           , csr        )                               {
  const a = await request(e, 'POST', bootstrapPaths.renew, { ca: creds.ca, cert: creds.cert, key: creds.key, body: { csr } });
  return checkAnswer(parse                     (a, 'the renewal'));
}

/** GET /v1/info (verified TLS); `date` is the server's Date header. */
export async function requestInfo(e                   , ca        )                                                                                          {
  const sentAt = Date.now();
  const a = await request(e, 'GET', bootstrapPaths.info, { ca });
  return { ...parse               (a, 'the info request'), date: a.date, sentAt, receivedAt: Date.now() };
}

function checkAnswer(r                     )                      {
  if (typeof r.certificate !== 'string' || typeof r.ca !== 'string' || !r.hub || !Number.isInteger(r.hub.port)) {
    throw new IdentityError('IDENTITY_BAD_RESPONSE', 'the cloud\'s certificate answer lacks certificate, ca or hub');
  }
  return r;
}
