/**
 * The chaos workload: a seeded stream of API writes that change what the
 * edges must hold while the faults run. Pods bound to the chaos nodes
 * (created, relabelled, deleted gracefully so the edge must confirm the
 * deletion, or force-deleted), the ConfigMaps and Secrets they reference
 * (created, rewritten with new data, deleted while still referenced), and
 * Devices bound to the nodes whose desired values change. The reported
 * side of the twins is churned on the edges (hack/chaos/edge-main.ts,
 * TwinDriver) and checked in chaos.ts (deviceCheck).
 */
import { KubeApiError, type KubeClient } from '../../controllers/runtime/index.ts';
import type { Prng } from '../../hack/chaos/prng.ts';

export type WorkloadOp =
  | 'pod-create' | 'pod-delete' | 'pod-force-delete' | 'pod-relabel'
  | 'configmap-write' | 'configmap-delete' | 'secret-write' | 'secret-delete'
  | 'device-create' | 'device-desired' | 'device-delete';

const WEIGHTS: Record<WorkloadOp, number> = {
  'pod-create': 14, 'pod-delete': 7, 'pod-force-delete': 3, 'pod-relabel': 9,
  'configmap-write': 20, 'configmap-delete': 4, 'secret-write': 12, 'secret-delete': 3,
  'device-create': 5, 'device-desired': 15, 'device-delete': 2,
};

export interface WorkloadOptions {
  client: KubeClient;
  rng: Prng;
  namespace: string;
  nodes: readonly string[];
  configMaps?: number;
  secrets?: number;
  maxPodsPerNode?: number;
  maxDevicesPerNode?: number;
  /** Pause between operations. */
  tickMs?: number;
  /** Whether the Device CRDs are installed. */
  devices: boolean;
}

export const DEVICE_MODEL = 'chaos-thermostat';

export class Workload {
  readonly #o: Required<WorkloadOptions>;
  readonly ops = new Map<string, number>();
  readonly errors = new Map<string, number>();
  #running = false;
  #loop: Promise<void> | undefined;
  #n = 0;
  readonly #pods = new Map<string, string[]>(); // node → pod names
  readonly #devices = new Map<string, string[]>();

  constructor(o: WorkloadOptions) {
    this.#o = { configMaps: 24, secrets: 10, maxPodsPerNode: 6, maxDevicesPerNode: 3, tickMs: 150, ...o };
    for (const n of o.nodes) {
      this.#pods.set(n, []);
      this.#devices.set(n, []);
    }
  }

  /** Whether Devices are part of the workload (the CRDs are installed). */
  get devicesEnabled(): boolean {
    return this.#o.devices;
  }

  get #ns(): string {
    return this.#o.namespace;
  }

  /** Creates the DeviceModel, a first set of ConfigMaps/Secrets and one pod per node. */
  async seed(): Promise<void> {
    const c = this.#o.client;
    if (this.#o.devices) {
      await c.create({
        apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: DEVICE_MODEL, namespace: this.#ns },
        spec: { protocol: 'modbus', properties: [{ name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '1000000' }] },
      } as never);
    }
    for (let i = 0; i < this.#o.configMaps; i += 2) await this.#writeConfigMap(`cm-${i}`);
    for (let i = 0; i < this.#o.secrets; i += 2) await this.#writeSecret(`s-${i}`);
    for (const node of this.#o.nodes) {
      await this.#createPod(node);
      if (this.#o.devices) await this.#createDevice(node);
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await this.step();
        await new Promise((r) => setTimeout(r, this.#o.tickMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** One random operation; API errors are counted, never thrown. */
  async step(): Promise<void> {
    const r = this.#o.rng;
    let op = r.weighted(WEIGHTS);
    if (!this.#o.devices && op.startsWith('device-')) op = 'configmap-write';
    try {
      await this.#do(op);
      this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
    } catch (err) {
      const code = err instanceof KubeApiError ? String(err.statusCode) : (err as Error).message.slice(0, 60);
      const k = `${op}:${code}`;
      this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
    }
  }

  async #do(op: WorkloadOp): Promise<void> {
    const r = this.#o.rng;
    const c = this.#o.client;
    const node = r.pick(this.#o.nodes);
    const pods = this.#pods.get(node)!;
    const devices = this.#devices.get(node)!;
    switch (op) {
      case 'pod-create':
        if (pods.length < this.#o.maxPodsPerNode) await this.#createPod(node);
        return;
      case 'pod-delete':
      case 'pod-force-delete': {
        if (pods.length === 0) return;
        const name = pods.splice(r.int(0, pods.length - 1), 1)[0]!;
        // graceful: the API server only sets deletionTimestamp; the edge must confirm (pod-status deleted)
        await c.request('DELETE', `/api/v1/namespaces/${this.#ns}/pods/${name}`, op === 'pod-force-delete' ? { body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } } : {});
        return;
      }
      case 'pod-relabel': {
        if (pods.length === 0) return;
        await c.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: this.#ns, name: r.pick(pods) }, { metadata: { labels: { gen: String(++this.#n) } } });
        return;
      }
      case 'configmap-write':
        return this.#writeConfigMap(`cm-${r.int(0, this.#o.configMaps - 1)}`);
      case 'configmap-delete':
        await c.request('DELETE', `/api/v1/namespaces/${this.#ns}/configmaps/cm-${r.int(0, this.#o.configMaps - 1)}`);
        return;
      case 'secret-write':
        return this.#writeSecret(`s-${r.int(0, this.#o.secrets - 1)}`);
      case 'secret-delete':
        await c.request('DELETE', `/api/v1/namespaces/${this.#ns}/secrets/s-${r.int(0, this.#o.secrets - 1)}`);
        return;
      case 'device-create':
        if (devices.length < this.#o.maxDevicesPerNode) await this.#createDevice(node);
        return;
      case 'device-desired': {
        if (devices.length === 0) return;
        const name = r.pick(devices);
        const dev = await c.get<{ spec: { properties: { name: string; desired?: { value: string } }[] } }>({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', namespace: this.#ns, name });
        if (!dev) return;
        const properties = dev.spec.properties.map((p) => (p.name === 'setpoint' ? { ...p, desired: { ...p.desired, value: String(r.int(0, 1_000_000)) } } : p));
        await c.mergePatch({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', namespace: this.#ns, name }, { spec: { properties } });
        return;
      }
      case 'device-delete': {
        if (devices.length === 0) return;
        const name = devices.splice(r.int(0, devices.length - 1), 1)[0]!;
        await c.request('DELETE', `/apis/devices.kubeedge.io/v1beta1/namespaces/${this.#ns}/devices/${name}`);
        return;
      }
    }
  }

  #data(): string {
    const r = this.#o.rng;
    // mostly small, sometimes 64 KiB (so bandwidth limits matter)
    const size = r.chance(0.03) ? 64 * 1024 : r.int(16, 2048);
    return `${++this.#n}:`.padEnd(size, String.fromCharCode(97 + r.int(0, 25)));
  }

  async #upsert(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace: string } } & Record<string, unknown>): Promise<void> {
    const c = this.#o.client;
    try {
      await c.create(obj);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
      await c.replace(obj);
    }
  }

  #writeConfigMap(name: string): Promise<void> {
    return this.#upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: this.#ns }, data: { value: this.#data() } });
  }

  #writeSecret(name: string): Promise<void> {
    return this.#upsert({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: this.#ns }, stringData: { token: this.#data().slice(0, 256) } });
  }

  async #createPod(node: string): Promise<void> {
    const r = this.#o.rng;
    const name = `p-${++this.#n}`;
    const cms = Array.from({ length: r.int(1, 3) }, () => `cm-${r.int(0, this.#o.configMaps - 1)}`);
    const secrets = Array.from({ length: r.int(0, 2) }, () => `s-${r.int(0, this.#o.secrets - 1)}`);
    const [cmVol, ...cmRest] = cms;
    await this.#o.client.create({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace: this.#ns, labels: { app: 'chaos', gen: '0' } },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 5,
        containers: [{
          name: 'c', image: 'busybox:1.36',
          env: cmRest.map((cm, i) => ({ name: `E${i}`, valueFrom: { configMapKeyRef: { name: cm, key: 'value', optional: true } } })),
          envFrom: secrets.slice(1).map((s) => ({ secretRef: { name: s, optional: true } })),
        }],
        volumes: [
          { name: 'cfg', configMap: { name: cmVol!, optional: true } },
          ...(secrets[0] ? [{ name: 'sec', secret: { secretName: secrets[0], optional: true } }] : []),
        ],
        ...(r.chance(0.2) ? { imagePullSecrets: [{ name: `s-${r.int(0, this.#o.secrets - 1)}` }] } : {}),
      },
    } as never);
    this.#pods.get(node)!.push(name);
  }

  async #createDevice(node: string): Promise<void> {
    const name = `dev-${++this.#n}`;
    await this.#o.client.create({
      apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
      metadata: { name, namespace: this.#ns },
      spec: {
        deviceModelRef: { name: DEVICE_MODEL }, nodeName: node, protocol: { protocolName: 'modbus', configData: { host: 'thermostat.invalid', port: 502 } },
        properties: [{ name: 'setpoint', desired: { value: String(this.#o.rng.int(0, 1_000_000)) }, visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 0, limit: 1 } } }],
      },
    } as never);
    this.#devices.get(node)!.push(name);
  }
}
