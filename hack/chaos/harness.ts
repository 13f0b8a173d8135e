/**
 * The chaos test host: the cloud (`outpost cloud`: hub + controllers) in one
 * network namespace, each edge agent in its own, joined to the cloud's by a
 * veth pair; faults are applied with nftables, tc and link state in the
 * kernel and with a delaying relay in userspace, and processes are killed
 * with SIGKILL and restarted.
 *
 * How the cloud reaches the real kube-apiserver on the host's loopback
 * without the host namespace getting any address: the harness (host side)
 * serves a Unix socket that connects to 127.0.0.1:<apiserver>, and the cloud
 * helper (inside the cloud namespace) listens on 127.0.0.1:<apiserver> there
 * and forwards to that socket. Unix sockets are not network-namespaced, so
 * the kubeconfig works unchanged and the API server itself is never impaired.
 *
 *   host ns:  kube-apiserver 127.0.0.1:P  <-  harness (unix socket)
 *   cloud ns: outpost cloud -> 127.0.0.1:P (helper) -> unix socket
 *             hub 127.0.0.1:7000 tcp+udp  <-  relay 10.213.i.1:7100 tcp / :7101 udp  (one per edge)
 *   edge ns i: chaos edge -> 10.213.i.1:7100 (ws) or :7101 (quic), over the veth
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { createCa, issueCertificate } from '../../lib/pki.ts';
import { ManagedProcess, type ProcessExit } from './process.ts';
import { NO_KERNEL_IMPAIRMENT, sweepStale, Topology, type KernelImpairment } from './netns.ts';
import { forward, NO_IMPAIRMENT, type ImpairSettings, type RelayStats } from './relay.ts';
import { integrityCheck } from './edge-db.ts';
import type { FaultEvent } from './schedule.ts';
import type { CloudHelperConfig } from './cloud-helper.ts';

const root = join(import.meta.dirname, '..', '..');
const HUB_PORT = 7000;
const RELAY_TCP = 7100;
const RELAY_UDP = 7101;

export interface EdgeSpec {
  protocol: 'websocket' | 'quic';
}

export interface HarnessOptions {
  kubeconfig: string;
  /** The API server's port on the host's loopback (from the kubeconfig's server URL). */
  apiPort: number;
  edges: readonly EdgeSpec[];
  /** Namespace for the workload and the edges' events. */
  namespace: string;
  workDir: string;
  log: (line: string) => void;
  /** Multiplies the edges' report intervals. */
  churnScale?: number;
  /** `churner` (default): store + hub + the chaos churner's reports; `agent`: the whole edge agent (node lifecycle, pods, devices). */
  edgeMode?: 'churner' | 'agent';
}

export interface IntegrityRecord {
  edge: number;
  at: string;
  ok: boolean;
  problems: string[];
}

const live = new Set<ChaosHarness>();

/** Stops every harness of this process (for SIGINT/SIGTERM handlers). */
export async function stopAllHarnesses(): Promise<void> {
  await Promise.all([...live].map((h) => h.stop()));
}

export class ChaosHarness {
  readonly o: HarnessOptions;
  readonly topology: Topology;
  readonly nodes: string[];
  readonly crashes: ProcessExit[] = [];
  readonly integrity: IntegrityRecord[] = [];
  readonly applied = new Map<string, number>();
  readonly skipped = new Map<string, number>();
  cloud!: ManagedProcess;
  helper!: ManagedProcess;
  edges: ManagedProcess[] = [];
  #apiBridge: Server | undefined;
  #helperReplies = new Map<number, (o: Record<string, unknown>) => void>();
  #helperReady: (() => void) | undefined;
  #nextId = 1;
  #stopping = false;
  #quiesced = false;
  #active = new Map<number, FaultEvent[]>();
  #cloudPartitions = 0;
  #pki!: { caFile: string; hubCert: string; hubKey: string; node: (i: number) => { cert: string; key: string } };

  constructor(o: HarnessOptions) {
    this.o = o;
    this.topology = new Topology(o.edges.length);
    this.nodes = o.edges.map((_, i) => `chaos-${this.topology.tag}-e${i}`);
  }

  get pkiDir(): string {
    return join(this.o.workDir, 'pki');
  }

  dataDir(i: number): string {
    return join(this.o.workDir, 'edges', `e${i}`);
  }

  dbPath(i: number): string {
    return join(this.dataDir(i), 'edge.db');
  }

  /** Sets everything up; resolves when the cloud runs and every edge agent started. */
  async start(): Promise<void> {
    live.add(this);
    const stale = await sweepStale();
    if (stale.length) this.o.log(`chaos: removed ${stale.length} namespaces left by a killed run: ${stale.join(', ')}`);
    mkdirSync(join(this.o.workDir, 'logs'), { recursive: true });
    await this.#makePki();
    await this.topology.up();
    const sock = join(this.o.workDir, 'api.sock');
    rmSync(sock, { force: true });
    this.#apiBridge = await forward({ path: sock }, { host: '127.0.0.1', port: this.o.apiPort });
    const helperCfg: CloudHelperConfig = {
      apiPort: this.o.apiPort, apiSocket: sock, hub: { tcpPort: HUB_PORT, udpPort: HUB_PORT },
      relays: this.topology.edges.map((e) => ({ name: `e${e.index}`, listenHost: e.cloudAddr, tcpPort: RELAY_TCP, udpPort: RELAY_UDP })),
    };
    const helperCfgFile = join(this.o.workDir, 'cloud-helper.json');
    writeFileSync(helperCfgFile, JSON.stringify(helperCfg));
    const logDir = join(this.o.workDir, 'logs');
    const onExit = (e: ProcessExit) => this.#onExit(e);
    this.helper = new ManagedProcess({
      name: 'cloud-helper', ns: this.topology.cloudNs, logDir, args: () => [join(root, 'hack', 'chaos', 'cloud-helper.ts'), helperCfgFile], onExit,
      onStdoutLine: (line) => {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (msg.ready) this.#helperReady?.();
        const cb = this.#helperReplies.get(msg.id as number);
        this.#helperReplies.delete(msg.id as number);
        cb?.(msg);
      },
    });
    const ready = new Promise<void>((r) => (this.#helperReady = r));
    this.helper.start();
    await withTimeout(ready, 20_000, 'cloud helper did not start');
    this.cloud = new ManagedProcess({
      name: 'cloud', ns: this.topology.cloudNs, logDir, onExit, env: { OUTPOST_LOG_LEVEL: 'info' },
      // the inspector (on the cloud namespace's loopback, a free port) is how collectCloudGarbage() runs a GC before RSS is read;
      // OUTPOST_CHAOS_CLOUD_NODE_FLAGS adds Node flags for the cloud only (diagnostics, e.g. "--trace-gc --heapsnapshot-signal=SIGUSR2")
      args: () => ['--inspect=127.0.0.1:0', ...(process.env.OUTPOST_CHAOS_CLOUD_NODE_FLAGS ?? '').split(' ').filter(Boolean), join(root, 'bin', 'outpost.js'), 'cloud', '--kubeconfig', this.o.kubeconfig, '--leader-elect', 'false', '--health-port', '-1',
        '--hub-host', '127.0.0.1', '--hub-port', String(HUB_PORT), '--hub-protocols', 'websocket,quic',
        '--hub-ca-file', this.#pki.caFile, '--hub-cert-file', this.#pki.hubCert, '--hub-key-file', this.#pki.hubKey],
    });
    await this.startCloud();
    this.edges = this.topology.edges.map((e) => new ManagedProcess({
      name: `edge-e${e.index}`, ns: e.ns, logDir, onExit, env: { OUTPOST_LOG_LEVEL: 'info' },
      args: () => {
        const n = this.#pki.node(e.index);
        return [join(root, 'hack', 'chaos', 'edge-main.ts'), '--node-name', this.nodes[e.index]!, '--hub', `${e.cloudAddr}:${RELAY_TCP}`, '--quic-port', String(RELAY_UDP),
          '--hub-protocol', this.o.edges[e.index]!.protocol, '--data-dir', this.dataDir(e.index), '--ca-file', this.#pki.caFile, '--cert-file', n.cert, '--key-file', n.key,
          '--scale', String(this.o.churnScale ?? 1), '--mode', this.o.edgeMode ?? 'churner', ...(this.#quiesced ? ['--quiesced'] : [])];
      },
    }));
    for (const p of this.edges) p.start();
  }

  async #makePki(): Promise<void> {
    const dir = this.pkiDir;
    mkdirSync(dir, { recursive: true });
    const ca = await createCa({ commonName: `outpost-chaos-${this.topology.tag}`, validityDays: 2 });
    const hub = await issueCertificate({
      ca, commonName: 'outpost-cloudhub', usage: 'server', validityDays: 2, dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', ...this.topology.edges.map((e) => e.cloudAddr)],
    });
    const write = (name: string, body: string) => {
      const p = join(dir, name);
      writeFileSync(p, body, { mode: 0o600 });
      return p;
    };
    const nodes: { cert: string; key: string }[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const c = await issueCertificate({ ca, commonName: `system:node:${this.nodes[i]}`, organization: ['system:nodes'], usage: 'client', validityDays: 2 });
      nodes.push({ cert: write(`e${i}.crt`, c.certPem), key: write(`e${i}.key`, c.keyPem!) });
    }
    this.#pki = { caFile: write('ca.crt', ca.certPem), hubCert: write('hub.crt', hub.certPem), hubKey: write('hub.key', hub.keyPem!), node: (i) => nodes[i]! };
  }

  /** Starts the cloud and waits until its hub listens. */
  async startCloud(): Promise<void> {
    this.cloud.start();
    const file = this.cloud.logFile();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        /* not yet */
      }
      if (text.includes('"Started cloud"')) return;
      if (!this.cloud.running) {
        // a kill -9 of another fault event may hit the cloud while it starts; its own undo restarts it
        if (this.cloud.exits.at(-1)?.expected) return;
        throw new Error(`the cloud exited during start:\n${this.cloud.tail(30)}`);
      }
      await sleep(100);
    }
    throw new Error(`the cloud did not start within 60 s:\n${this.cloud.tail(30)}`);
  }

  #onExit(e: ProcessExit): void {
    if (e.expected || this.#stopping) return;
    this.crashes.push(e);
    const p = [this.cloud, this.helper, ...this.edges].find((x) => x?.name === e.name);
    this.o.log(`chaos: ${e.name} (incarnation ${e.incarnation}) exited by itself (code ${e.code}, signal ${e.signal}); log ${e.logFile}`);
    if (p && p !== this.helper) setTimeout(() => void (this.#stopping || p.running || (p === this.cloud ? this.startCloud().catch(() => undefined) : p.start())), 1000);
  }

  /** Sends one command to the cloud helper and waits for its answer. */
  helperCommand(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return withTimeout(new Promise((resolve) => {
      this.#helperReplies.set(id, resolve);
      this.helper.send(JSON.stringify({ ...cmd, id }));
    }), 10_000, `cloud helper did not answer ${JSON.stringify(cmd)}`);
  }

  async relayStats(): Promise<Record<string, RelayStats>> {
    return (await this.helperCommand({ cmd: 'stats' })).stats as Record<string, RelayStats>;
  }

  #count(m: Map<string, number>, k: string): void {
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  /** Recomputes and applies one edge's impairments from the events active on it. */
  async #refreshEdge(i: number): Promise<void> {
    const active = this.#active.get(i) ?? [];
    const k: KernelImpairment = { ...NO_KERNEL_IMPAIRMENT };
    const r: ImpairSettings = { ...NO_IMPAIRMENT };
    for (const e of active) {
      if (e.kind === 'partition') k.partition = true;
      if (e.kind === 'link-down') k.linkDown = true;
      if (e.kind === 'loss') k.lossPct = Math.max(k.lossPct, e.params.lossPct ?? 0);
      if (e.kind === 'bandwidth') k.rateKbit = k.rateKbit === 0 ? e.params.rateKbit! : Math.min(k.rateKbit, e.params.rateKbit!);
      if (e.kind === 'delay' || e.kind === 'reorder') {
        r.delayMs = Math.max(r.delayMs, e.params.delayMs ?? 0);
        r.jitterMs = Math.max(r.jitterMs, e.params.jitterMs ?? 0);
        r.reorderPct = Math.max(r.reorderPct, e.params.reorderPct ?? 0);
      }
    }
    await this.topology.setEdge(i, k);
    await this.helperCommand({ cmd: 'set', relay: `e${i}`, settings: r });
  }

  /**
   * Applies one fault now and returns its undo (lift the impairment, or
   * check the store and restart the killed process). A kill of a process
   * that is already down is counted as skipped and undoes nothing.
   */
  async apply(e: FaultEvent): Promise<() => Promise<void>> {
    switch (e.kind) {
      case 'kill-edge': {
        const p = this.edges[e.edge!]!;
        if (!p.running) {
          this.#count(this.skipped, e.kind);
          return async () => {};
        }
        await p.kill9();
        this.#count(this.applied, e.kind);
        return async () => {
          const r = integrityCheck(this.dbPath(e.edge!));
          this.integrity.push({ edge: e.edge!, at: `after kill (event ${e.index})`, ...r });
          if (!this.#stopping) p.start();
        };
      }
      case 'kill-cloud': {
        if (!this.cloud.running) {
          this.#count(this.skipped, e.kind);
          return async () => {};
        }
        await this.cloud.kill9();
        this.#count(this.applied, e.kind);
        return async () => {
          if (!this.#stopping && !this.cloud.running) await this.startCloud();
        };
      }
      case 'partition-cloud':
        this.#cloudPartitions++;
        if (this.#cloudPartitions === 1) await this.topology.setCloudPartition(true);
        this.#count(this.applied, e.kind);
        return async () => {
          this.#cloudPartitions--;
          if (this.#cloudPartitions === 0) await this.topology.setCloudPartition(false);
        };
      default: {
        const i = e.edge!;
        this.#active.set(i, [...(this.#active.get(i) ?? []), e]);
        await this.#refreshEdge(i);
        this.#count(this.applied, e.kind);
        return async () => {
          this.#active.set(i, (this.#active.get(i) ?? []).filter((x) => x !== e));
          await this.#refreshEdge(i);
        };
      }
    }
  }

  /** Lifts every impairment and makes sure every process runs (idempotent). */
  async heal(): Promise<void> {
    this.#active.clear();
    this.#cloudPartitions = 0;
    await this.topology.setCloudPartition(false);
    for (let i = 0; i < this.edges.length; i++) await this.#refreshEdge(i);
    if (!this.cloud.running) await this.startCloud();
    for (const p of this.edges) if (!p.running) p.start();
  }

  /** Partitions one edge on purpose (the measured partition after the chaos phase). */
  async partition(i: number, on: boolean): Promise<void> {
    const e: FaultEvent = { index: -1, atMs: 0, kind: 'partition', edge: i, durationMs: 0, params: {} };
    if (on) this.#active.set(i, [...(this.#active.get(i) ?? []), e]);
    else this.#active.set(i, (this.#active.get(i) ?? []).filter((x) => x.kind !== 'partition'));
    await this.#refreshEdge(i);
  }

  /** Stops the edges' periodic report churn (deletion confirmations go on), also across restarts. */
  quiesce(): void {
    this.#quiesced = true;
    for (const p of this.edges) p.send('quiesce');
  }

  /** (kind|key) → code of the reports of `node` the hub refused for good, from every cloud log (newest wins). */
  refusedReports(node: string): Map<string, string> {
    const out = new Map<string, string>();
    for (let inc = 1; inc <= this.cloud.incarnation; inc++) {
      let text = '';
      try {
        text = readFileSync(this.cloud.logFile(inc), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line.includes('"Refused report"') || !line.includes(node)) continue;
        try {
          const r = JSON.parse(line) as { node?: string; kind?: string; key?: string; code?: string };
          if (r.node === node && r.kind && r.key) out.set(`${r.kind}|${r.key}`, r.code ?? '?');
        } catch {
          /* not JSON */
        }
      }
    }
    return out;
  }

  /**
   * Runs a full, memory-reducing GC in the running cloud (through its
   * inspector, via the helper in its namespace) so that its RSS shows retained
   * memory: without it, the RSS of a cloud that went through a burst includes
   * heap V8 grew (mostly the young generation) and keeps committed while idle,
   * about 130 MB after an agent-mode run (docs/reliability.md, "Cloud RSS").
   * Returns the cloud's `process.memoryUsage()` after the GC, or why the GC did not run.
   */
  async collectCloudGarbage(): Promise<{ usage: NodeJS.MemoryUsage } | { error: string }> {
    if (!this.cloud.running) return { error: 'the cloud is not running' };
    let text = '';
    try {
      text = readFileSync(this.cloud.logFile(), 'utf8');
    } catch {
      /* no log yet */
    }
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
    if (!url) return { error: 'the cloud has not logged its inspector URL' };
    const r: Record<string, unknown> = await this.helperCommand({ cmd: 'gc', inspector: url }).catch((err: unknown) => ({ ok: false, error: (err as Error).message }));
    return r.ok === true ? { usage: r.usage as NodeJS.MemoryUsage } : { error: String(r.error) };
  }

  /** RSS in bytes of the cloud and every edge (undefined for a process that is down). */
  rss(): { cloud: number | undefined; edges: (number | undefined)[] } {
    return { cloud: this.cloud.rss(), edges: this.edges.map((p) => p.rss()) };
  }

  /** kill -9 every edge and check every store (the harshest way to end). */
  async killEdgesAndCheck(): Promise<IntegrityRecord[]> {
    const out: IntegrityRecord[] = [];
    for (let i = 0; i < this.edges.length; i++) {
      await this.edges[i]!.kill9();
      const r = { edge: i, at: 'final (after kill -9)', ...integrityCheck(this.dbPath(i)) };
      this.integrity.push(r);
      out.push(r);
    }
    return out;
  }

  /** Stops everything and removes every namespace, veth, nftables table and socket. Idempotent; never throws. */
  async stop(): Promise<void> {
    this.#stopping = true;
    live.delete(this);
    const procs = [...this.edges, this.cloud, this.helper].filter(Boolean);
    await Promise.all(procs.map((p) => p.kill9().catch(() => undefined)));
    this.#apiBridge?.close();
    await this.topology.down().catch((err: unknown) => this.o.log(`chaos: cleanup failed: ${(err as Error).message}`));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}
