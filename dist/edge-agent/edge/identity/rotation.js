/**
 * Certificate lifecycle of a running edge agent.
 *
 * Rotation: at a random point in 70–90 % of the certificate's life
 * (KubeEdge's and the kubelet's window, so a fleet joined together does not
 * renew together) the agent makes a new key, sends a CSR to the bootstrap
 * endpoint's `/v1/renew` over mutual TLS with its current certificate,
 * replaces `pki/node.pem` in one rename, and hands the new credentials to
 * the agent, which reconnects the hub with them (the store is untouched; the
 * session resumes by digest). A failed renewal is retried with backoff until
 * the certificate expires: 10–30 % of the life (36–110 days for the default
 * 365) is the offline budget.
 *
 * Expiry: a node that was offline past its certificate's end cannot renew
 * (the cloud no longer trusts the certificate). If a join token is in
 * `DIR/token` (e.g. a long-TTL token bound to this node, put there ahead of
 * time, or dropped in later) the agent re-enrols with it (`reenroll: true`),
 * keeping its store; otherwise it logs, once an hour, what to run. It also
 * adopts a `node.pem` replaced on disk by `outpost join --force-reenroll`.
 *
 * Time, randomness and the network calls are injected (tests).
 */
import { X509Certificate } from 'node:crypto';
import { nodeCommonName, parseJoinToken } from '../../lib/join-token.js';
                                               
import { requestJoin, requestRenew,                        } from './client.js';
import { IdentityError } from './errors.js';
import {
  certificateWindow, joinNodePem, readRootCredentials, readRootToken, removeRootToken, splitNodePem, writeNodeCredentials,                      
} from './root.js';

                                                      
             
 

/** When to renew: notBefore + life × (0.7 + 0.2 × random). */
export function rotationDeadline(notBefore      , notAfter      , random              )       {
  const life = notAfter.getTime() - notBefore.getTime();
  return new Date(notBefore.getTime() + life * (0.7 + 0.2 * Math.min(Math.max(random(), 0), 1)));
}

                                                                  

                                 
               
                   
                              
                       
                                                                     
                                                          
              
                     
                                                        
                        
                                                          
                              
                            
                                                                                          
                      
 

const HOUR = 3_600_000;

export class CertificateRotator {
           #o                                                                                                             ;
  #creds             ;
  #deadline      ;
  #cancel                          ;
  #stopped = true;
  #failures = 0;
  #running                           ;
  #lastExpiredLog = 0;

  constructor(o                ) {
    this.#o = {
      now: () => Date.now(),
      setTimer: (fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return () => clearTimeout(t);
      },
      random: Math.random, maxSleepMs: HOUR, renew: requestRenew, join: requestJoin, ...o,
    };
    this.#creds = o.initial;
    this.#deadline = this.#deadlineFor(o.initial.cert);
  }

  /** The current credentials. */
  get credentials()              {
    return this.#creds;
  }

  /** When the current certificate is due for renewal. */
  get deadline()       {
    return this.#deadline;
  }

  #deadlineFor(cert        )       {
    const w = certificateWindow(cert);
    return rotationDeadline(w.notBefore, w.notAfter, this.#o.random);
  }

  /** Starts the timer (first check at the deadline, or at once when it has passed). Idempotent. */
  start()       {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule();
  }

  stop()       {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #schedule(delayMs         )       {
    if (this.#stopped) return;
    this.#cancel?.();
    const until = delayMs ?? Math.max(0, this.#deadline.getTime() - this.#o.now());
    this.#cancel = this.#o.setTimer(() => {
      this.#cancel = undefined;
      void this.check();
    }, Math.min(until, this.#o.maxSleepMs));
  }

  /** One evaluation: adopt a replaced file, renew when due, re-enrol when expired. Never throws. */
  check()                {
    this.#running ??= this.#check().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #check()                {
    const log = this.#o.log;
    try {
      const onDisk = { ...readRootCredentials(this.#o.root) };
      if (onDisk.cert !== this.#creds.cert) {
        this.#adopt(onDisk, 'reloaded');
        log.info('Loaded a node certificate replaced on disk', { notAfter: certificateWindow(onDisk.cert).notAfter.toISOString() });
        return this.#schedule();
      }
    } catch (err) {
      log.warn('Failed to read the node certificate from disk; keeping the one in memory', { err });
    }
    const now = this.#o.now();
    const { notAfter } = certificateWindow(this.#creds.cert);
    if (now < this.#deadline.getTime()) return this.#schedule();
    if (now < notAfter.getTime()) return this.#renew(notAfter);
    return this.#reenroll(notAfter);
  }

  #adopt(c             , how               )       {
    this.#creds = c;
    this.#deadline = this.#deadlineFor(c.cert);
    this.#failures = 0;
    this.#o.onRotated(c, how);
  }

  async #newKey()                                              {
    // loaded on demand: @peculiar/x509 costs memory the agent needs only here
    const { createCsr } = await import('../../lib/pki.js');
    return createCsr({ commonName: nodeCommonName(this.#o.nodeName) });
  }

  #issued(certificate        )       {
    const x = new X509Certificate(certificate);
    if (!x.verify(new X509Certificate(this.#creds.ca).publicKey)) throw new IdentityError('IDENTITY_BAD_RESPONSE', 'the renewed certificate is not signed by the cloud CA this node trusts');
    if (/^CN=(.*)$/m.exec(x.subject)?.[1] !== nodeCommonName(this.#o.nodeName)) throw new IdentityError('IDENTITY_BAD_RESPONSE', `the renewed certificate is for ${x.subject}`);
  }

  async #renew(notAfter      )                {
    const log = this.#o.log;
    try {
      const { csrPem, keyPem } = await this.#newKey();
      const answer = await this.#o.renew(this.#o.endpoint, this.#creds, csrPem);
      this.#issued(answer.certificate);
      const next = { ca: this.#creds.ca, ...splitNodePem(joinNodePem({ cert: answer.certificate, key: keyPem })) };
      writeNodeCredentials(this.#o.root, next);
      this.#adopt(next, 'renewed');
      log.info('Renewed node certificate', { previousNotAfter: notAfter.toISOString(), notAfter: certificateWindow(next.cert).notAfter.toISOString(), nextRenewal: this.#deadline.toISOString() });
      this.#schedule();
    } catch (err) {
      this.#failures++;
      const left = notAfter.getTime() - this.#o.now();
      const retry = Math.max(1000, Math.min(30_000 * 2 ** Math.min(this.#failures - 1, 10), HOUR, left));
      log.warn('Failed to renew node certificate; retrying', { err, expiresAt: notAfter.toISOString(), retryInMs: retry, failures: this.#failures });
      this.#schedule(retry);
    }
  }

  async #reenroll(notAfter      )                {
    const log = this.#o.log;
    const token = readRootToken(this.#o.root);
    if (!token) {
      if (this.#o.now() - this.#lastExpiredLog >= HOUR || this.#lastExpiredLog === 0) {
        this.#lastExpiredLog = this.#o.now();
        log.error('Node certificate expired; the cloud will refuse this node until it re-enrols', {
          expiredAt: notAfter.toISOString(),
          fix: `on the cloud: outpost gettoken --node-name ${this.#o.nodeName}; here: outpost join --root ${this.#o.root} --cloud <address> --token <token> --node-name ${this.#o.nodeName} --force-reenroll (or write the token to ${this.#o.root}/token and the agent re-enrols by itself)`,
        });
      }
      return this.#schedule(Math.min(HOUR, 60_000));
    }
    try {
      const t = parseJoinToken(token);
      const { csrPem, keyPem } = await this.#newKey();
      const answer = await this.#o.join(this.#o.endpoint, this.#creds.ca, `${t.id}.${t.secret}`, { nodeName: this.#o.nodeName, csr: csrPem, reenroll: true });
      this.#issued(answer.certificate);
      const next = { ca: this.#creds.ca, ...splitNodePem(joinNodePem({ cert: answer.certificate, key: keyPem })) };
      writeNodeCredentials(this.#o.root, next);
      removeRootToken(this.#o.root);
      this.#adopt(next, 'reenrolled');
      log.info('Re-enrolled after certificate expiry', { expiredAt: notAfter.toISOString(), token: t.id, notAfter: certificateWindow(next.cert).notAfter.toISOString() });
      this.#schedule();
    } catch (err) {
      this.#failures++;
      const permanent = err instanceof IdentityError && err.code === 'IDENTITY_REFUSED';
      log.error('Failed to re-enrol with the token in the root directory', { err, permanent, fix: permanent ? `replace ${this.#o.root}/token with a fresh one from "outpost gettoken --node-name ${this.#o.nodeName}"` : 'retrying' });
      this.#schedule(permanent ? HOUR : Math.min(30_000 * 2 ** Math.min(this.#failures - 1, 7), HOUR));
    }
  }
}
