/**
 * `outpost doctor`: one line per check, ok / warn / fail / skip, and for
 * every warn or fail what to do. Exit 1 when anything failed.
 *
 * Edge (--edge --root DIR): config, certificate validity and renewal,
 * bootstrap endpoint and clock skew against it, the hub certificate's SANs
 * vs the address dialled, the hub over WebSocket and over QUIC with the
 * node's own certificate, the re-enrolment token, store integrity, the agent
 * process, and the container runtime and MQTT broker when configured.
 *
 * Cloud (--cloud [--state-dir DIR | --kubeconfig PATH]): API server, CRDs,
 * hub PKI (validity, SANs vs advertised addresses), bootstrap endpoint and
 * clock skew, the hub over WebSocket and QUIC, join tokens, the cloud process.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { join, resolve } from 'node:path';
import * as tls from 'node:tls';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import {
  certificateWindow, defaultRoot, processAlive, readPidFile, readRootConfig, readRootCredentials, readRootToken, requestInfo, rootFiles,
  type BootstrapEndpoint,
} from '../../edge/identity/index.ts';
import { parseJoinToken } from '../../lib/join-token.ts';
import type { Link } from '../../edge/transport/index.ts';
import { loadKubeConfig } from '../../cloud/cloud.ts';
import { DirPkiStore, DirTokenStore, SecretPkiStore, SecretTokenStore, certificateCovers, type StoredPki, type TokenStore } from '../../cloud/bootstrap/index.ts';
import { cloudNamespace } from '../../cloud/rbac.ts';
import { KubeClient } from '../../controllers/runtime/index.ts';
import { configDir, deploymentName, pkiSecretName, renderKustomization, serviceDnsNames } from '../install/cluster.ts';
import { defaultStateDir, localFiles, readCloudPid, readLocalSettings } from '../install/local.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
export interface CheckResult {
  status: CheckStatus;
  check: string;
  detail: string;
  fix?: string;
}

const r = (status: CheckStatus, check: string, detail: string, fix?: string): CheckResult => ({ status, check, detail, ...(fix ? { fix } : {}) });

/** One printed line per result. */
export function formatResult(x: CheckResult): string {
  return `${x.status.padEnd(4)}  ${x.check.padEnd(20)} ${x.detail}${x.fix ? `  → ${x.fix}` : ''}`;
}

const errMsg = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Skew verdict: certificates are back-dated 5 min, so beyond that fresh certificates look "not yet valid". */
export function skewResult(skewMs: number, against: string): CheckResult {
  const s = `${skewMs >= 0 ? '+' : ''}${(skewMs / 1000).toFixed(1)} s against ${against}`;
  const fix = 'synchronise the clock (chrony/systemd-timesyncd, NTP); certificates and tokens are checked against it';
  if (Math.abs(skewMs) < 30_000) return r('ok', 'clock skew', s);
  if (Math.abs(skewMs) < 5 * 60_000) return r('warn', 'clock skew', s, fix);
  return r('fail', 'clock skew', `${s} (over the 5 min certificates tolerate)`, fix);
}

/** Certificate window verdict at `now`. */
export function certificateResult(check: string, certPem: string, now: number, renewFix: string, renews = true): CheckResult {
  const w = certificateWindow(certPem);
  const life = w.notAfter.getTime() - w.notBefore.getTime();
  const used = (now - w.notBefore.getTime()) / life;
  if (now < w.notBefore.getTime()) return r('fail', check, `not valid before ${w.notBefore.toISOString()}`, 'check this machine\'s clock');
  if (now >= w.notAfter.getTime()) return r('fail', check, `${w.commonName} expired at ${w.notAfter.toISOString()}`, renewFix);
  if (used > 0.9) return r('warn', check, `${w.commonName} valid until ${w.notAfter.toISOString()}, ${(used * 100).toFixed(0)} % of its life used: renewal is overdue`, 'check that the cloud\'s bootstrap port is reachable (renewal uses it)');
  const from = new Date(w.notBefore.getTime() + life * 0.7).toISOString();
  return r('ok', check, `${w.commonName} valid until ${w.notAfter.toISOString()}${renews ? ` (renewal from ${from})` : ''}`);
}

function tcpOrUnix(target: { path?: string; host?: string; port?: number }, timeoutMs = 3000): Promise<void> {
  return new Promise((res, rej) => {
    const s = target.path ? net.connect(target.path) : net.connect(target.port!, target.host!);
    const t = setTimeout(() => s.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.end();
      res();
    });
    s.once('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
  });
}

/** The hub's serving certificate as presented on TCP `host:port`, checked against `ca` and `name`. */
function hubCertificate(host: string, port: number, ca: string, name: string): Promise<{ sans: string; error?: Error }> {
  return new Promise((res, rej) => {
    const s = tls.connect({ host, port, ca, ...(net.isIP(name) ? {} : { servername: name }), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const peer = s.getPeerCertificate();
      const err = s.authorized ? tls.checkServerIdentity(name, peer) : new Error(String(s.authorizationError));
      s.end();
      res({ sans: peer.subjectaltname ?? '', ...(err ? { error: err } : {}) });
    });
    s.setTimeout(3000, () => s.destroy(new Error('no TLS answer within 3 s')));
    s.once('error', rej);
  });
}

async function dialHub(protocol: 'websocket' | 'quic', o: { host: string; port: number; serverName?: string; tls: { ca: string; cert: string; key: string } }): Promise<{ ms: number; closeCode?: number }> {
  const t0 = performance.now();
  const mod = protocol === 'websocket' ? await import('../../edge/transport/websocket.ts') : await import('../../edge/transport/quic.ts');
  const link: Link = await mod.dial({ host: o.host, port: o.port, tls: o.tls, connectTimeoutMs: 3000, ...(o.serverName ? { serverName: o.serverName } : {}) });
  const ms = performance.now() - t0;
  await link.close(1000, 'outpost doctor');
  return { ms };
}

async function edgeChecks(root: string): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let cfg;
  try {
    cfg = readRootConfig(root);
  } catch (err) {
    return [r('fail', 'config', errMsg(err), `outpost reset --edge --root ${root} --force, then join again`)];
  }
  if (!cfg) return [r('fail', 'config', `${root} is not joined (no ${rootFiles.config})`, `outpost join --root ${root} --cloud <address> --token <token>`)];
  out.push(r('ok', 'config', `node "${cfg.nodeName}", cloud ${cfg.cloud.address} (hub :${cfg.cloud.hubPort} ${cfg.cloud.protocol}, bootstrap :${cfg.cloud.bootstrapPort})`));
  let creds;
  try {
    creds = readRootCredentials(root);
  } catch (err) {
    out.push(r('fail', 'certificate', errMsg(err), `outpost join --root ${root} --force-reenroll --cloud ${cfg.cloud.address} --token <token>`));
    return out;
  }
  const reenroll = `on the cloud: outpost gettoken --node-name ${cfg.nodeName}; here: outpost join --root ${root} --cloud ${cfg.cloud.address}:${cfg.cloud.bootstrapPort} --token <token> --force-reenroll (the store is kept)`;
  out.push(certificateResult('certificate', creds.cert, Date.now(), reenroll));
  const name = cfg.cloud.serverName ?? cfg.cloud.address;
  const endpoint: BootstrapEndpoint = { host: cfg.cloud.address, port: cfg.cloud.bootstrapPort, ...(cfg.cloud.serverName ? { serverName: cfg.cloud.serverName } : {}) };
  try {
    const info = await requestInfo(endpoint, creds.ca);
    out.push(r('ok', 'bootstrap', `https://${cfg.cloud.address}:${cfg.cloud.bootstrapPort} answers (hub advertised on :${info.hub.port} ${info.hub.protocols.join('+')})`));
    const server = Date.parse(info.time) || info.date?.getTime();
    if (server) out.push(skewResult(server - (info.sentAt + info.receivedAt) / 2, `the cloud (${cfg.cloud.address})`));
  } catch (err) {
    const code = (err as { code?: string }).code;
    out.push(r('fail', 'bootstrap', errMsg(err), code === 'IDENTITY_SAN_MISMATCH' ? undefined : 'renewal and re-enrolment need this port (TCP); check the address and firewalls'));
    out.push(r('skip', 'clock skew', 'the cloud did not answer'));
  }
  try {
    const c = await hubCertificate(cfg.cloud.address, cfg.cloud.hubPort, creds.ca, name);
    if (c.error) out.push(r('fail', 'hub certificate', `does not cover "${name}" (${c.sans || 'no SANs'}): ${c.error.message}`, `on the cloud: outpost init --advertise-address ${name} (or dial an address listed)`));
    else out.push(r('ok', 'hub certificate', `covers "${name}" (${c.sans})`));
  } catch (err) {
    out.push(r('skip', 'hub certificate', `no TLS on TCP ${cfg.cloud.hubPort} (${errMsg(err)})`));
  }
  const hubTls = { ca: creds.ca, cert: creds.cert, key: creds.key };
  for (const protocol of ['websocket', 'quic'] as const) {
    const needed = cfg.cloud.protocol === protocol || cfg.cloud.protocol === 'auto';
    if (!needed) {
      out.push(r('skip', `hub ${protocol}`, `not used (hub protocol ${cfg.cloud.protocol})`));
      continue;
    }
    const port = protocol === 'quic' ? cfg.cloud.quicPort ?? cfg.cloud.hubPort : cfg.cloud.hubPort;
    try {
      const d = await dialHub(protocol, { host: cfg.cloud.address, port, tls: hubTls, ...(cfg.cloud.serverName ? { serverName: cfg.cloud.serverName } : {}) });
      out.push(r('ok', `hub ${protocol}`, `${cfg.cloud.address}:${port}/${protocol === 'quic' ? 'udp' : 'tcp'} accepted this node's certificate in ${d.ms.toFixed(0)} ms`));
    } catch (err) {
      const soft = protocol === 'quic' && cfg.cloud.protocol === 'auto';
      out.push(r(soft ? 'warn' : 'fail', `hub ${protocol}`, errMsg(err), soft ? `the agent falls back to WebSocket; open UDP ${port} for QUIC, or set cloud.protocol: websocket in ${join(root, rootFiles.config)}` : `open ${protocol === 'quic' ? 'UDP' : 'TCP'} ${port} to the cloud`));
    }
  }
  const token = readRootToken(root);
  if (!token) out.push(r('ok', 'join token', 'none stored (only needed for automatic re-enrolment after expiry)'));
  else {
    try {
      const t = parseJoinToken(token);
      if (t.caPin !== cfg.cloud.caPin) out.push(r('fail', 'join token', `${join(root, rootFiles.token)} is for another cloud (CA ${t.caPin.slice(0, 19)}…)`, 'replace it with a token from this node\'s cloud'));
      else if (t.expiresAt.getTime() <= Date.now()) out.push(r('warn', 'join token', `${join(root, rootFiles.token)} expired at ${t.expiresAt.toISOString()}: it cannot re-enrol this node`, `outpost gettoken --node-name ${cfg.nodeName} --ttl 30d, and write it there`));
      else out.push(r('ok', 'join token', `re-enrolment token ${t.id} valid until ${t.expiresAt.toISOString()}`));
    } catch (err) {
      out.push(r('fail', 'join token', `${join(root, rootFiles.token)}: ${errMsg(err)}`, 'remove or replace it'));
    }
  }
  out.push(storeResult(join(root, rootFiles.dataDir, 'edge.db')));
  const pid = readPidFile(root);
  out.push(pid && processAlive(pid) ? r('ok', 'agent', `running (pid ${pid})`) : r('warn', 'agent', 'not running', `outpost edge --root ${root}`));
  if (cfg.runtime) {
    const path = cfg.runtime.endpoint.replace(/^unix:\/\//, '');
    try {
      await tcpOrUnix({ path });
      out.push(r('ok', 'runtime', `${cfg.runtime.endpoint} accepts connections`));
    } catch (err) {
      out.push(r('fail', 'runtime', `${cfg.runtime.endpoint}: ${errMsg(err)}`, 'start the container runtime (systemctl start containerd)'));
    }
  } else out.push(r('skip', 'runtime', 'not configured (runtime.endpoint in config.yaml)'));
  if (cfg.broker) {
    try {
      const u = new URL(cfg.broker.url);
      await tcpOrUnix({ host: u.hostname, port: Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883)) });
      out.push(r('ok', 'broker', `${cfg.broker.url} accepts connections`));
    } catch (err) {
      out.push(r('fail', 'broker', `${cfg.broker.url}: ${errMsg(err)}`, 'start the MQTT broker (e.g. systemctl start mosquitto) or fix broker.url'));
    }
  } else out.push(r('skip', 'broker', 'not configured (broker.url in config.yaml)'));
  return out;
}

/** PRAGMA quick_check on the store, read-only (safe while the agent runs). */
export function storeResult(path: string): CheckResult {
  if (!existsSync(path)) return r('ok', 'store', `${path} not created yet (the agent creates it on first start)`);
  try {
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare('PRAGMA quick_check(20)').all() as Record<string, string>[];
      const problems = rows.map((x) => Object.values(x)[0]).filter((x) => x !== 'ok');
      if (problems.length) return r('fail', 'store', `${path}: ${problems.join('; ')}`, 'stop the agent, move edge.db aside; the agent rebuilds it from the cloud on the next start (unsent reports in it are lost)');
      const count = (sql: string) => {
        try {
          return Number(Object.values(db.prepare(sql).get() as object)[0]);
        } catch {
          return undefined;
        }
      };
      const objects = count('SELECT count(*) FROM objects');
      const outbox = count('SELECT count(*) FROM outbox');
      return r('ok', 'store', `${path} integrity ok${objects !== undefined ? `, ${objects} objects` : ''}${outbox !== undefined ? `, ${outbox} reports waiting` : ''}`);
    } finally {
      db.close();
    }
  } catch (err) {
    return r('fail', 'store', `${path}: ${errMsg(err)}`, 'check permissions and free disk space');
  }
}

async function cloudChecks(o: { stateDir?: string; kubeconfig?: string }): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const local = o.stateDir ? readLocalSettings(o.stateDir) : undefined;
  if (o.stateDir && !local) return [r('fail', 'local cloud', `no ${localFiles.config} in ${o.stateDir}`, `outpost init --local --state-dir ${o.stateDir}`)];
  const kc = loadKubeConfig(local?.kubeconfig ?? o.kubeconfig);
  const client = new KubeClient(kc);
  try {
    const v = await client.request<{ gitVersion: string }>('GET', '/version', { timeoutMs: 5000 });
    out.push(r('ok', 'api server', `${kc.getCurrentCluster()?.server} (${v.gitVersion})`));
  } catch (err) {
    out.push(r('fail', 'api server', `${kc.getCurrentCluster()?.server}: ${errMsg(err)}`, 'check the kubeconfig (--kubeconfig) and that the API server runs'));
    return out;
  }
  const crds = renderKustomization(join(configDir, 'crd')).map((c) => c.metadata!.name!);
  const missing: string[] = [];
  for (const name of crds) {
    const crd = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name }).catch(() => undefined);
    if (!crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) missing.push(name);
  }
  out.push(missing.length ? r('fail', 'crds', `missing or not established: ${missing.join(', ')}`, 'outpost init') : r('ok', 'crds', `${crds.length} established`));

  let stored: StoredPki | undefined;
  let tokens: TokenStore;
  let advertised: string[];
  let bootstrapPort = 10002;
  let hubPort = 10000;
  let probeHost = '127.0.0.1';
  if (local) {
    stored = await new DirPkiStore(join(o.stateDir!, localFiles.pki)).load().catch(() => undefined);
    tokens = new DirTokenStore(join(o.stateDir!, localFiles.tokens));
    advertised = local.advertiseAddresses;
    bootstrapPort = local.bootstrapPort;
    hubPort = local.hubPort;
  } else {
    stored = await new SecretPkiStore(client, cloudNamespace, pkiSecretName).load().catch(() => undefined);
    tokens = new SecretTokenStore(client, cloudNamespace);
    const dep = await client.get<{ spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } }; status?: { availableReplicas?: number; replicas?: number } }>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: cloudNamespace, name: deploymentName }).catch(() => undefined);
    advertised = (dep?.spec?.template?.spec?.containers?.[0]?.args ?? []).filter((a) => a.startsWith('--advertise-address=')).map((a) => a.slice('--advertise-address='.length)).filter((a) => !serviceDnsNames.includes(a));
    probeHost = advertised[0] ?? '';
    if (!dep) out.push(r('fail', 'cloud', `no Deployment ${cloudNamespace}/${deploymentName}`, 'outpost init'));
    else out.push((dep.status?.availableReplicas ?? 0) > 0 ? r('ok', 'cloud', `${dep.status!.availableReplicas}/${dep.status!.replicas} replicas available`) : r('fail', 'cloud', 'no replica available', `kubectl -n ${cloudNamespace} describe deployment ${deploymentName}; kubectl -n ${cloudNamespace} logs deploy/${deploymentName}`));
  }
  if (local) {
    const pid = readCloudPid(o.stateDir!);
    out.push(pid && processAlive(pid) ? r('ok', 'cloud', `local cloud running (pid ${pid})`) : r('fail', 'cloud', 'local cloud not running', `outpost cloud --state-dir ${o.stateDir}`));
  }
  if (!stored?.serving) {
    out.push(r('fail', 'hub pki', `no CA and serving certificate in ${local ? join(o.stateDir!, localFiles.pki) : `Secret ${cloudNamespace}/${pkiSecretName}`}`, local ? `outpost init --local --state-dir ${o.stateDir}` : 'outpost init (or start the cloud: it creates them)'));
    return out;
  }
  out.push(certificateResult('hub ca', stored.ca.certPem, Date.now(), 'the CA expired: every node must join again after a new "outpost init"', false));
  out.push(certificateResult('hub certificate', stored.serving.certPem, Date.now(), 'run outpost init again (it re-issues the serving certificate)', false));
  const uncovered = advertised.filter((a) => !certificateCovers(stored!.serving!.certPem, a));
  const sans = new X509Certificate(stored.serving.certPem).subjectAltName ?? '';
  out.push(uncovered.length ? r('fail', 'hub sans', `advertised but not in the certificate: ${uncovered.join(', ')} (has ${sans})`, 'run outpost init again with the same --advertise-address flags') : r('ok', 'hub sans', sans));
  if (!probeHost) out.push(r('skip', 'bootstrap', 'no advertised address to probe'));
  else {
    try {
      const info = await requestInfo({ host: probeHost, port: bootstrapPort }, stored.ca.certPem);
      hubPort = info.hub.port;
      out.push(r('ok', 'bootstrap', `https://${probeHost}:${bootstrapPort} answers`));
      out.push(skewResult(Date.parse(info.time) - (info.sentAt + info.receivedAt) / 2, `the bootstrap endpoint at ${probeHost}`));
    } catch (err) {
      out.push(r('fail', 'bootstrap', `https://${probeHost}:${bootstrapPort}: ${errMsg(err)}`, 'edges join and renew here: check that the cloud runs with --bootstrap-port and the port is open'));
    }
    // a throw-away client certificate that is no node identity: the hub accepts TLS, then refuses the link
    const { issueCertificate } = await import('../../lib/pki.ts');
    const probe = await issueCertificate({ ca: stored.ca, commonName: 'outpost-doctor', usage: 'client', validityDays: 1 });
    for (const protocol of ['websocket', 'quic'] as const) {
      try {
        const d = await dialHub(protocol, { host: probeHost, port: hubPort, tls: { ca: stored.ca.certPem, cert: probe.certPem, key: probe.keyPem! } });
        out.push(r('ok', `hub ${protocol}`, `${probeHost}:${hubPort}/${protocol === 'quic' ? 'udp' : 'tcp'} completed mutual TLS in ${d.ms.toFixed(0)} ms`));
      } catch (err) {
        out.push(r(protocol === 'quic' ? 'warn' : 'fail', `hub ${protocol}`, `${probeHost}:${hubPort}: ${errMsg(err)}`, protocol === 'quic' ? `edges fall back to WebSocket; open UDP ${hubPort} for QUIC` : `open TCP ${hubPort}`));
      }
    }
  }
  try {
    const all = await tokens.list();
    const now = Date.now();
    const valid = all.filter((t) => !t.usedBy && Date.parse(t.expiresAt) > now);
    const expired = all.filter((t) => !t.usedBy && Date.parse(t.expiresAt) <= now);
    out.push(r('ok', 'join tokens', `${valid.length} usable${valid.length ? ` (next expiry ${new Date(Math.min(...valid.map((t) => Date.parse(t.expiresAt)))).toISOString()})` : ''}, ${all.length - valid.length - expired.length} used, ${expired.length} expired (deleted an hour after expiry)`));
  } catch (err) {
    out.push(r('fail', 'join tokens', errMsg(err), 'check access to the token store'));
  }
  return out;
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'check clocks, ports, certificates, tokens, store, broker and runtime; say what to fix',
  usage: 'outpost doctor --edge [--root DIR] | outpost doctor --cloud [--state-dir DIR | --kubeconfig PATH]',
  options: {
    edge: { type: 'boolean' },
    cloud: { type: 'boolean' },
    root: { type: 'string' },
    'state-dir': { type: 'string' },
    kubeconfig: { type: 'string' },
    json: { type: 'boolean' },
  },
  optionHelp: {
    edge: 'check this edge node',
    cloud: 'check the cloud side (local with --state-dir, else the cluster)',
    root: `edge root directory (default ${defaultRoot})`,
    'state-dir': `local cloud state directory (default ${defaultStateDir()} when it exists)`,
    kubeconfig: 'cluster of the cloud side (default: KUBECONFIG, ~/.kube/config)',
    json: 'print the results as one JSON array',
  },
  async run(v) {
    if (!!v.edge === !!v.cloud) throw new CliError('CLI_USAGE', 'say which side to check: --edge or --cloud');
    if (v.edge && (v['state-dir'] || v.kubeconfig)) throw new CliError('CLI_USAGE', '--state-dir and --kubeconfig are for --cloud');
    if (v.cloud && v.root) throw new CliError('CLI_USAGE', '--root is for --edge');
    const stateDir = (v['state-dir'] as string | undefined) ?? (v.cloud && !v.kubeconfig && readLocalSettings(defaultStateDir()) ? defaultStateDir() : undefined);
    const results = v.edge
      ? await edgeChecks(resolve(String(v.root ?? defaultRoot)))
      : await cloudChecks({ ...(stateDir ? { stateDir: resolve(stateDir) } : {}), ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}) });
    if (v.json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(`${results.map(formatResult).join('\n')}\n`);
    return results.some((x) => x.status === 'fail') ? 1 : 0;
  },
};
