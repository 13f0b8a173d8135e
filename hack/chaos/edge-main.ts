/**
 * A chaos edge: the real edge agent (`startEdge`, what `outpost edge` runs)
 * plus a report churner, in one of two modes:
 *
 * - `churner` (default): the agent without its node lifecycle and pod
 *   runtime (config `node`/`pods` left out, devices off); the churner posts
 *   node-register (label `chaos.outpost.io/boot`), lease renewals, node-status
 *   heartbeats (a `Ready` condition, as a kubelet posts, and an `OutpostChaos`
 *   condition carrying a sequence number), events about its Node, pod-status
 *   for pods in its store (a sequence number in `status.message`) and, like a
 *   kubelet, `deleted: true` once a pod it holds has a deletionTimestamp.
 *   Devices are on (twin and embedded MQTT broker, loaded when the first
 *   Device arrives) without the built-in mappers.
 * - `agent`: the whole agent as `outpost edge` runs it (edge/node heartbeats,
 *   edge/pods with the process runtime, edge/devices); the churner only adds
 *   events.
 *
 * In both modes a TwinDriver plays the node's mapper: over the node's MQTT
 * broker, as a KubeEdge mapper does, it publishes `twin/update` with a new
 * reported (`actual`) value of a random Device's `setpoint` and now and then
 * `state/update`. Values are a per-node counter that only grows (also across
 * kill -9), so "newest" is checkable: `chaos.twin.sent.<device>` holds the
 * last value published, `chaos.twin.acked.<device>` the last one the edge
 * answered without error (it was committed to the twin before the answer).
 *
 * In both modes every report any part of the agent queues is recorded as the
 * newest expected value of its (kind, key) in a `chaos.expect.*` meta row, in
 * the same SQLite transaction as the outbox row (Outbox.put is wrapped), so
 * whatever kill -9 interrupts, the harness can read afterwards what the API
 * server must end up with (or what must still be queued).
 *
 * Control on stdin, one word per line: `quiesce` stops the churner's
 * periodic reports (deletion confirmations go on), `resume` restarts them.
 * The process exits when stdin closes, so it never outlives the harness.
 *
 * usage: node hack/chaos/edge-main.ts <outpost edge flags> [--mode churner|agent] [--quiesced] [--scale X]
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { buildEdgeConfig, type EdgeConfig } from '../../edge/config.ts';
import { startEdge, type EdgeAgent } from '../../edge/agent.ts';
import type { KubeObject } from '../../edge/store/object-store.ts';
import { Meta } from '../../edge/store/object-store.ts';
import { Outbox } from '../../edge/store/outbox.ts';
import type { MqttClient } from 'mqtt';
import { expectKey, TWIN_ACKED, TWIN_SENT } from './edge-db.ts';

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Records every queued report as the newest expected value of its (kind, key), atomically with the outbox row. */
function recordExpectations(): void {
  const metas = new WeakMap<Outbox, Meta>();
  const put = Outbox.prototype.put;
  Outbox.prototype.put = function (this: Outbox, kind, key, payload) {
    return this.db.transaction(() => {
      const id = put.call(this, kind, key, payload);
      if (id !== undefined) {
        let meta = metas.get(this);
        if (!meta) metas.set(this, (meta = new Meta(this.db)));
        meta.set(expectKey(kind, key, payload), JSON.stringify(payload));
      }
      return id;
    });
  };
}

const DEVICE_API = 'devices.kubeedge.io/v1beta1';

/**
 * The node's mapper, for every Device the edge holds: publishes reported
 * values and states over the node's MQTT broker (QoS 1, one client, so the
 * broker delivers them in order) and records what it sent and what the edge
 * acknowledged. Reconnects on its own while the broker is not up yet.
 */
class TwinDriver {
  readonly #a: EdgeAgent;
  readonly #scale: number;
  #client: MqttClient | undefined;
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;

  constructor(agent: EdgeAgent, scale: number) {
    this.#a = agent;
    this.#scale = scale;
  }

  async start(): Promise<void> {
    const devices = await this.#a.devices.ready();
    const url = devices?.bus?.url;
    if (!url || this.#stopped) return;
    const { connect } = await import('mqtt');
    const client = connect(url, { clientId: `chaos-mapper-${this.#a.config.nodeName}`, protocolVersion: 4, reconnectPeriod: 500, clean: true });
    this.#client = client;
    client.on('error', () => undefined); // reconnects; the broker answers nothing while it restarts
    client.on('connect', () => void client.subscribeAsync('$hw/events/device/+/+/twin/update/result', { qos: 1 }).catch(() => undefined));
    client.on('message', (topic, payload) => this.#onResult(topic, payload));
  }

  resume(): void {
    if (this.#timers.length > 0 || this.#stopped) return;
    const every = (ms: number, fn: () => void) => this.#timers.push(setInterval(() => {
      try {
        fn();
      } catch (err) {
        process.stderr.write(`chaos-edge: twin driver failed: ${(err as Error).message}\n`);
      }
    }, Math.round(ms * this.#scale)));
    every(700, () => this.#publishValue());
    every(4000, () => this.#publishState());
  }

  quiesce(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  stop(): void {
    this.#stopped = true;
    this.quiesce();
    this.#client?.end(true);
  }

  #pick(): string | undefined {
    const devices = this.#a.store.objects.list({ apiVersion: DEVICE_API, kind: 'Device' });
    const d = devices[Math.floor(Math.random() * devices.length)];
    return d && `${d.metadata.namespace}/${d.metadata.name}`;
  }

  #publishValue(): void {
    const c = this.#client;
    const id = this.#pick();
    if (!c?.connected || !id) return;
    const meta = this.#a.store.objects.meta;
    const n = this.#a.store.db.transaction(() => {
      const v = Number(meta.get('chaos.counter.twin') ?? '0') + 1;
      meta.set('chaos.counter.twin', String(v));
      meta.set(`${TWIN_SENT}${id}`, String(v));
      return v;
    });
    const body = { event_id: `t${n}`, timestamp: Date.now(), twin: { setpoint: { actual: { value: String(n), metadata: { timestamp: Date.now() } }, metadata: { type: 'int' } } } };
    c.publish(`$hw/events/device/${id}/twin/update`, JSON.stringify(body), { qos: 1 });
  }

  #publishState(): void {
    const c = this.#client;
    const id = this.#pick();
    if (!c?.connected || !id) return;
    const state = ['online', 'online', 'unhealthy', 'offline'][Math.floor(Math.random() * 4)];
    c.publish(`$hw/events/device/${id}/state/update`, JSON.stringify({ event_id: `s${Date.now()}`, timestamp: Date.now(), state }), { qos: 1 });
  }

  #onResult(topic: string, payload: Buffer): void {
    const m = /^\$hw\/events\/device\/([^/]+\/[^/]+)\/twin\/update\/result$/.exec(topic);
    if (!m) return;
    let r: { event_id?: string; code?: number };
    try {
      r = JSON.parse(payload.toString('utf8')) as typeof r;
    } catch {
      return;
    }
    if (r.code !== undefined || !r.event_id?.startsWith('t')) return; // refused (e.g. the twin does not know the device yet)
    const n = Number(r.event_id.slice(1));
    const meta = this.#a.store.objects.meta;
    const key = `${TWIN_ACKED}${m[1]}`;
    if (n > Number(meta.get(key) ?? '0')) meta.set(key, String(n));
  }
}

interface ChurnOptions {
  /** Multiplies every interval (2 = half the rate). */
  scale: number;
  quiesced: boolean;
  /** Which reports the churner posts itself (in `agent` mode the agent posts the rest). */
  kinds: ReadonlySet<'node-register' | 'node-status' | 'lease' | 'event' | 'pod-status'>;
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

  #put(kind: string, key: string, payload: unknown): void {
    this.#a.store.outbox.put(kind, key, payload);
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
    if (this.#o.kinds.has('node-register')) {
      db.transaction(() => {
        this.#boot = this.#counter('boot');
        this.#put('node-register', `v1/Node//${this.#node}`, { metadata: { labels: { 'chaos.outpost.io/boot': String(this.#boot) } } });
      });
    }
    if (this.#o.kinds.has('pod-status')) {
      // deletions the previous incarnation saw but may not have confirmed
      for (const p of objects.list({ apiVersion: 'v1', kind: 'Pod' })) this.#onPod(p);
      objects.onChange((e) => {
        if (e.type === 'upsert' && e.obj.kind === 'Pod') this.#onPod(e.obj);
      });
    }
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
    const { db } = this.#a.store;
    const k = this.#o.kinds;
    if (k.has('lease')) this.#every(2000, () => this.#put('lease', `coordination.k8s.io/v1/Lease/kube-node-lease/${node}`, { renewTime: microTime(new Date()), leaseDurationSeconds: 40 }));
    if (k.has('node-status')) {
      this.#every(3000, () => db.transaction(() => {
        const seq = this.#counter('node-status');
        const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const since = this.#bootTime.toISOString().replace(/\.\d{3}Z$/, 'Z');
        this.#put('node-status', `v1/Node//${node}`, {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'chaos edge is posting ready status', lastHeartbeatTime: now, lastTransitionTime: since },
            { type: 'OutpostChaos', status: 'True', reason: 'Heartbeat', message: `seq=${seq}`, lastHeartbeatTime: now, lastTransitionTime: since },
          ],
        });
      }));
    }
    if (k.has('event')) {
      this.#every(5000, () => db.transaction(() => {
        const n = this.#counter('event');
        const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const name = `${node}.chaos.${n}`;
        // events about a cluster-scoped object live in "default" (API validation)
        this.#put('event', `v1/Event/default/${name}`, {
          metadata: { name, namespace: 'default' },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name: node, uid: node },
          reason: 'OutpostChaos', message: `event ${n}`, type: 'Normal',
          source: { component: 'outpost-chaos', host: node }, firstTimestamp: ts, lastTimestamp: ts, count: 1,
        });
      }));
    }
    if (k.has('pod-status')) {
      this.#every(1500, () => {
        const pods = this.#a.store.objects.list({ apiVersion: 'v1', kind: 'Pod' }).filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp);
        if (pods.length === 0) return;
        const p = pods[Math.floor(Math.random() * pods.length)]!;
        db.transaction(() => {
          const seq = this.#counter('pod-status');
          this.#put('pod-status', `v1/Pod/${p.metadata.namespace}/${p.metadata.name}`, { uid: p.metadata.uid, status: { phase: 'Running', message: `seq=${seq}` } });
        });
      });
    }
  }

  quiesce(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  #onPod(p: KubeObject): void {
    if (!(p.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    this.#put('pod-status', `v1/Pod/${p.metadata.namespace}/${p.metadata.name}`, { uid: p.metadata.uid, deleted: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'node-name': { type: 'string' }, hub: { type: 'string' }, 'quic-port': { type: 'string' }, 'hub-protocol': { type: 'string' },
      'server-name': { type: 'string' }, 'data-dir': { type: 'string' }, 'ca-file': { type: 'string' }, 'cert-file': { type: 'string' },
      'key-file': { type: 'string' }, quiesced: { type: 'boolean' }, scale: { type: 'string' }, mode: { type: 'string' },
    },
    strict: true,
  });
  const mode = values.mode ?? 'churner';
  if (mode !== 'churner' && mode !== 'agent') throw new Error(`--mode must be churner or agent, got "${mode}"`);
  const built = buildEdgeConfig({
    nodeName: values['node-name'], hub: values.hub, quicPort: values['quic-port'], hubProtocol: values['hub-protocol'],
    serverName: values['server-name'], dataDir: values['data-dir'], caFile: values['ca-file'], certFile: values['cert-file'], keyFile: values['key-file'],
    // churner mode: the twin and its broker, but no built-in mapper (the TwinDriver is the mapper)
    ...(mode === 'churner' ? { devices: 'auto', mappers: 'off' } : {}),
  } as Parameters<typeof buildEdgeConfig>[0]);
  // churner mode: the store and hub only (what the agent was before edge/node and edge/pods)
  const cfg: EdgeConfig = mode === 'churner' ? Object.freeze({ ...built, node: undefined, pods: undefined }) : built;
  recordExpectations();
  const agent = await startEdge(cfg);
  const churn = new ReportChurner(agent, {
    scale: Number(values.scale ?? '1'), quiesced: values.quiesced === true,
    kinds: new Set(mode === 'churner' ? ['node-register', 'node-status', 'lease', 'event', 'pod-status'] : ['event']),
  });
  churn.start();
  const driver = new TwinDriver(agent, Number(values.scale ?? '1'));
  void driver.start().catch((err: unknown) => process.stderr.write(`chaos-edge: twin driver: ${(err as Error).message}\n`));
  if (values.quiesced !== true) driver.resume();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'quiesce') {
      churn.quiesce();
      driver.quiesce();
    } else if (line.trim() === 'resume') {
      churn.resume();
      driver.resume();
    }
  });
  rl.on('close', () => {
    churn.quiesce();
    driver.stop();
    void agent.stop().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos-edge: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
