/**
 * A chaos edge: the real edge agent (`startEdge`, exactly what `outpost edge`
 * runs) plus a report churner standing in for the parts of the node that are
 * still being built (edge/node, edge/pods, edge/devices):
 *
 * - node-register once per boot (label `chaos.outpost.io/boot`),
 * - lease renewals and node-status heartbeats (a `Ready` condition, as a
 *   kubelet posts, and an `OutpostChaos` condition carrying a sequence number),
 * - events about its Node with unique names (namespace "default"),
 * - pod-status for pods in its store (a sequence number in `status.message`),
 *   and, like a kubelet, a `deleted: true` report once a pod it holds has a
 *   deletionTimestamp (the hub then deletes the pod).
 *
 * Every report is queued in the durable outbox in the same SQLite
 * transaction as a `chaos.expect.*` meta row naming the newest value, so
 * whatever kill -9 interrupts, the harness can read afterwards what the API
 * server must end up with.
 *
 * TODO(edge/node, edge/pods): once `outpost edge` posts node status, leases
 * and pod status itself, drop those kinds here and record the expectations
 * from the agent's own reports (see docs/reliability.md "Hooks").
 * TODO(edge/devices): queue device-twin reports for the Devices in the store
 * (reported value = desired value) and expect them in the Device status.
 *
 * Control on stdin, one word per line: `quiesce` stops the periodic churn
 * (deletion confirmations go on), `resume` restarts it. The process exits
 * when stdin closes, so it never outlives the harness.
 *
 * usage: node hack/chaos/edge-main.ts <outpost edge flags> [--quiesced] [--scale X]
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { buildEdgeConfig } from '../../edge/config.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import type { KubeObject } from '../../edge/store/object-store.ts';
import { EXPECT_PREFIX } from './edge-db.ts';

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

interface ChurnOptions {
  /** Multiplies every interval (2 = half the rate). */
  scale: number;
  quiesced: boolean;
}

class ReportChurner {
  readonly #a: EdgeAgent;
  readonly #o: ChurnOptions;
  readonly #node: string;
  #timers: NodeJS.Timeout[] = [];
  #boot = 0;
  #bootTime = new Date();

  constructor(agent: EdgeAgent, o: ChurnOptions) {
    this.#a = agent;
    this.#o = o;
    this.#node = agent.config.nodeName;
  }

  /** Queues `payload` and records it as the newest expected value, atomically. */
  #put(kind: string, key: string, payload: unknown, expect: { key: string; value: unknown }): void {
    const { db, outbox, objects } = this.#a.store;
    db.transaction(() => {
      outbox.put(kind, key, payload);
      objects.meta.set(`${EXPECT_PREFIX}${expect.key}`, JSON.stringify(expect.value));
    });
    this.#a.hub.notifyOutbox();
  }

  #counter(name: string): number {
    const meta = this.#a.store.objects.meta;
    const n = Number(meta.get(`chaos.counter.${name}`) ?? '0') + 1;
    meta.set(`chaos.counter.${name}`, String(n));
    return n;
  }

  start(): void {
    const { db, objects } = this.#a.store;
    db.transaction(() => {
      this.#boot = this.#counter('boot');
      const labels = { 'chaos.outpost.io/boot': String(this.#boot) };
      this.#put('node-register', `v1/Node//${this.#node}`, { metadata: { labels } }, { key: 'node-register', value: { boot: this.#boot } });
    });
    // deletions the previous incarnation saw but may not have confirmed
    for (const p of objects.list({ apiVersion: 'v1', kind: 'Pod' })) this.#onPod(p);
    objects.onChange((e) => {
      if (e.type === 'upsert' && e.obj.kind === 'Pod') this.#onPod(e.obj);
    });
    if (!this.#o.quiesced) this.resume();
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      try {
        fn();
      } catch (err) {
        process.stderr.write(`chaos-edge: churn failed: ${(err as Error).message}\n`);
      }
    }, Math.round(ms * this.#o.scale));
    this.#timers.push(t);
  }

  resume(): void {
    if (this.#timers.length > 0) return;
    const node = this.#node;
    this.#every(2000, () => this.lease());
    this.#every(3000, () => {
      const { db } = this.#a.store;
      db.transaction(() => {
        const seq = this.#counter('node-status');
        const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const since = this.#bootTime.toISOString().replace(/\.\d{3}Z$/, 'Z');
        this.#put('node-status', `v1/Node//${node}`, {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'chaos edge is posting ready status', lastHeartbeatTime: now, lastTransitionTime: since },
            { type: 'OutpostChaos', status: 'True', reason: 'Heartbeat', message: `seq=${seq}`, lastHeartbeatTime: now, lastTransitionTime: since },
          ],
        }, { key: 'node-status', value: { seq } });
      });
    });
    this.#every(5000, () => {
      const { db } = this.#a.store;
      db.transaction(() => {
        const n = this.#counter('event');
        const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const name = `${node}.chaos.${n}`;
        // events about a cluster-scoped object live in "default" (API validation)
        this.#put('event', `v1/Event/default/${name}`, {
          metadata: { name, namespace: 'default' },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name: node, uid: node },
          reason: 'OutpostChaos', message: `event ${n} from boot ${this.#boot}`, type: 'Normal',
          source: { component: 'outpost-chaos', host: node }, firstTimestamp: ts, lastTimestamp: ts, count: 1,
        }, { key: 'event', value: { count: n } });
      });
    });
    this.#every(1500, () => {
      const pods = this.#a.store.objects.list({ apiVersion: 'v1', kind: 'Pod' }).filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp);
      if (pods.length === 0) return;
      const p = pods[Math.floor(Math.random() * pods.length)]!;
      const { db } = this.#a.store;
      db.transaction(() => {
        const seq = this.#counter('pod-status');
        const key = `v1/Pod/${p.metadata.namespace}/${p.metadata.name}`;
        this.#put('pod-status', key, { uid: p.metadata.uid, status: { phase: 'Running', message: `seq=${seq}` } }, { key: `pod-status.${key}`, value: { uid: p.metadata.uid, seq } });
      });
    });
  }

  lease(): void {
    const renewTime = microTime(new Date());
    this.#put('lease', `coordination.k8s.io/v1/Lease/kube-node-lease/${this.#node}`, { renewTime, leaseDurationSeconds: 40 }, { key: 'lease', value: { renewTime } });
  }

  quiesce(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  #onPod(p: KubeObject): void {
    if (!(p.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    const key = `v1/Pod/${p.metadata.namespace}/${p.metadata.name}`;
    this.#put('pod-status', key, { uid: p.metadata.uid, deleted: true }, { key: `pod-status.${key}`, value: { uid: p.metadata.uid, deleted: true } });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'node-name': { type: 'string' }, hub: { type: 'string' }, 'quic-port': { type: 'string' }, 'hub-protocol': { type: 'string' },
      'server-name': { type: 'string' }, 'data-dir': { type: 'string' }, 'ca-file': { type: 'string' }, 'cert-file': { type: 'string' },
      'key-file': { type: 'string' }, quiesced: { type: 'boolean' }, scale: { type: 'string' },
    },
    strict: true,
  });
  const cfg = buildEdgeConfig({
    nodeName: values['node-name'], hub: values.hub, quicPort: values['quic-port'], hubProtocol: values['hub-protocol'],
    serverName: values['server-name'], dataDir: values['data-dir'], caFile: values['ca-file'], certFile: values['cert-file'], keyFile: values['key-file'],
  });
  const agent = await startEdge(cfg);
  const churn = new ReportChurner(agent, { scale: Number(values.scale ?? '1'), quiesced: values.quiesced === true });
  churn.start();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'quiesce') churn.quiesce();
    else if (line.trim() === 'resume') churn.resume();
  });
  rl.on('close', () => {
    churn.quiesce();
    void agent.stop().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos-edge: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
