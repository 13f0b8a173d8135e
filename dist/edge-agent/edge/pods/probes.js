/**
 * Container probes (liveness, readiness, startup) as the kubelet's prober
 * runs them (pkg/kubelet/prober): after initialDelaySeconds, every
 * periodSeconds, each attempt bounded by timeoutSeconds; a result flips after
 * successThreshold consecutive successes or failureThreshold consecutive
 * failures. Liveness and readiness wait for the startup probe to succeed.
 * Readiness starts as failure, liveness and startup as unknown.
 *
 * - exec: the runtime's execSync; exit 0 = success, timeout = failure;
 * - httpGet: HTTP(S) GET (certificates not verified, as the kubelet does);
 *   200-399 = success; the host defaults to 127.0.0.1 (pods use the host network);
 * - tcpSocket: a TCP connect;
 * - grpc: not implemented; counted as success with a warning, so the pod
 *   does not restart for a check the edge cannot run.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
                                             
                                                                
                                                   
                                               

                                                             

/** Resolves a named port against the container's ports; undefined when unknown. */
export function resolvePort(c           , port                 )                     {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** Runs one probe attempt; never throws. */
export async function runProbe(probe       , c           , handle                 , runtime            , log        )                                 {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.exec) {
      const r = await runtime.execSync(handle, probe.exec.command ?? [], timeoutMs);
      return r.exitCode === 0 && !r.timedOut ? 'success' : 'failure';
    }
    if (probe.httpGet) {
      const g = probe.httpGet;
      const port = resolvePort(c, g.port);
      if (port === undefined) return 'failure';
      const req = g.scheme === 'HTTPS' ? httpsRequest : httpRequest;
      return await new Promise((resolve) => {
        const headers                         = { 'User-Agent': 'kube-probe/1.36', Accept: '*/*' };
        for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
        const r = req({ host: g.host || '127.0.0.1', port, path: g.path ?? '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 400 ? 'success' : 'failure');
        });
        r.on('timeout', () => r.destroy());
        r.on('error', () => resolve('failure'));
        r.end();
      });
    }
    if (probe.tcpSocket) {
      const port = resolvePort(c, probe.tcpSocket.port);
      if (port === undefined) return 'failure';
      return await new Promise((resolve) => {
        const s = connect({ host: probe.tcpSocket .host || '127.0.0.1', port });
        const t = setTimeout(() => {
          s.destroy();
          resolve('failure');
        }, timeoutMs);
        s.once('connect', () => {
          clearTimeout(t);
          s.destroy();
          resolve('success');
        });
        s.once('error', () => {
          clearTimeout(t);
          resolve('failure');
        });
      });
    }
    if (probe.grpc) {
      log.warn('gRPC probes are not supported at the edge; counting them as success', { container: c.name });
      return 'success';
    }
    return 'success';
  } catch (err) {
    log.debug('Probe failed to run', { container: c.name, err });
    return 'failure';
  }
}

                  
                  
               
                      
                    
                   
                         
 

/**
 * The probes of one running container instance. `onChange` is called when a
 * result flips; `stop()` when the instance exits or is killed.
 */
export class ContainerProbes {
           #workers           = [];
           #c           ;
           #handle                 ;
           #runtime            ;
           #log        ;
           #onChange            ;
  #stopped = false;

  constructor(opts                                                                                                           ) {
    this.#c = opts.container;
    this.#handle = opts.handle;
    this.#runtime = opts.runtime;
    this.#log = opts.log;
    this.#onChange = opts.onChange;
    const c = opts.container;
    if (c.startupProbe) this.#workers.push({ type: 'startup', probe: c.startupProbe, result: 'unknown', successes: 0, failures: 0 });
    if (c.livenessProbe) this.#workers.push({ type: 'liveness', probe: c.livenessProbe, result: 'unknown', successes: 0, failures: 0 });
    if (c.readinessProbe) this.#workers.push({ type: 'readiness', probe: c.readinessProbe, result: 'failure', successes: 0, failures: 0 });
  }

  /** Starts the probe loops (the container just started). */
  start()       {
    for (const w of this.#workers) this.#schedule(w, (w.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop()       {
    this.#stopped = true;
    for (const w of this.#workers) if (w.timer) clearTimeout(w.timer);
  }

  /** Current result of a probe type; `unknown` when the container has no such probe. */
  result(type           )              {
    return this.#workers.find((w) => w.type === type)?.result ?? 'unknown';
  }

  has(type           )          {
    return this.#workers.some((w) => w.type === type);
  }

  /** Started: no startup probe, or it succeeded. */
  started()          {
    return !this.has('startup') || this.result('startup') === 'success';
  }

  ready()          {
    return this.started() && (!this.has('readiness') || this.result('readiness') === 'success');
  }

  #schedule(w        , delayMs        )       {
    if (this.#stopped) return;
    w.timer = setTimeout(() => void this.#tick(w), delayMs);
    w.timer.unref();
  }

  async #tick(w        )                {
    if (this.#stopped) return;
    const period = (w.probe.periodSeconds ?? 10) * 1000;
    // liveness/readiness wait for the startup probe; startup stops probing once it succeeded
    if (w.type !== 'startup' && !this.started()) return this.#schedule(w, period);
    if (w.type === 'startup' && w.result === 'success') return;
    const r = await runProbe(w.probe, this.#c, this.#handle, this.#runtime, this.#log);
    if (this.#stopped) return;
    const before = w.result;
    if (r === 'success') {
      w.successes++;
      w.failures = 0;
      if (w.successes >= (w.type === 'readiness' ? (w.probe.successThreshold ?? 1) : 1)) w.result = 'success';
    } else {
      w.failures++;
      w.successes = 0;
      if (w.failures >= (w.probe.failureThreshold ?? 3)) w.result = 'failure';
    }
    if (w.result !== before) {
      this.#log.debug('Probe result changed', { container: this.#c.name, probe: w.type, result: w.result });
      this.#onChange();
    }
    // a failed liveness or startup probe gets the container killed: stop probing it
    if (!((w.type === 'liveness' || w.type === 'startup') && w.result === 'failure')) this.#schedule(w, period);
  }
}
