/**
 * The node's side of the node lifecycle, as the kubelet does it
 * (pkg/kubelet/kubelet_node_status.go, nodelease): on start a `node-register`
 * report (the whole Node: labels incl. node-role.kubernetes.io/edge,
 * capacity/allocatable, addresses, nodeInfo, daemonEndpoints, conditions),
 * then every `heartbeatMs` (default 10 s) a `lease` report (renewTime, 40 s
 * duration) and a `node-status` report (conditions with lastHeartbeatTime).
 * All three go through the durable outbox and coalesce per kind, so an
 * offline node keeps exactly one pending heartbeat of each, and reconnecting
 * sends a fresh one at once. The cloud writes them (cloud/hub/reports.ts);
 * the kube-controller-manager's node lifecycle controller does the rest:
 * NotReady plus the unreachable taints when they stop, Ready again when they
 * resume.
 */
import type { Outbox } from '../store/outbox.ts';
import type { Logger } from '../../lib/log.ts';
import { defaultKubeletPort, nodeConditions, nodeInfo, nodeLabels, nodeResources, readPressure, type HostFacts, type Pressure } from './node-info.ts';

export interface NodeLifecycleOptions {
  nodeName: string;
  outbox: Outbox;
  log: Logger;
  facts: HostFacts;
  dataDir: string;
  containerRuntimeVersion: string;
  /** Called after reports were put (EdgeHub.notifyOutbox). */
  notify?: () => void;
  /** Lease renewal and node status interval (default 10 s, the kubelet's). */
  heartbeatMs?: number;
  /** Lease duration (default 40 s, the kubelet's). */
  leaseDurationSeconds?: number;
  maxPods?: number;
  kubeletPort?: number;
  labels?: Record<string, string>;
  /** Pressure reader (tests inject one). */
  pressure?: () => Pressure;
  now?: () => number;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const seconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export class NodeLifecycle {
  readonly #o: NodeLifecycleOptions;
  readonly #log: Logger;
  readonly #since = new Map<string, { status: string; at: string }>();
  readonly #key: string;
  #timer: NodeJS.Timeout | undefined;
  #registerId: number | undefined;
  readonly #now: () => number;
  /** Heartbeats put so far (tests, metrics). */
  heartbeats = 0;

  constructor(opts: NodeLifecycleOptions) {
    this.#o = opts;
    this.#log = opts.log.child({ component: 'node' });
    this.#key = `v1/Node//${opts.nodeName}`;
    this.#now = opts.now ?? Date.now;
  }

  get heartbeatMs(): number {
    return this.#o.heartbeatMs ?? 10_000;
  }

  /** The Node as registered (labels, status with capacity, addresses, nodeInfo, daemonEndpoints, conditions). */
  registration(): { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: Record<string, never>; status: Record<string, unknown> } {
    const o = this.#o;
    const input = { nodeName: o.nodeName, facts: o.facts, containerRuntimeVersion: o.containerRuntimeVersion, maxPods: o.maxPods ?? 110, kubeletPort: o.kubeletPort ?? defaultKubeletPort, ...(o.labels ? { labels: o.labels } : {}) };
    return {
      metadata: { labels: nodeLabels(input), annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'outpost.io/agent': 'outpost-edge' } },
      spec: {},
      status: {
        ...nodeResources(input),
        addresses: [{ type: 'InternalIP', address: o.facts.internalIP }, { type: 'Hostname', address: o.facts.hostname }],
        nodeInfo: nodeInfo(input),
        daemonEndpoints: { kubeletEndpoint: { Port: input.kubeletPort } },
        conditions: this.#conditions(),
      },
    };
  }

  #conditions() {
    return nodeConditions(seconds(this.#now()), (this.#o.pressure ?? (() => readPressure(this.#o.dataDir)))(), this.#since);
  }

  /** Puts the registration and starts the heartbeats. Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#registerId = this.#o.outbox.put('node-register', this.#key, this.registration());
    this.heartbeat();
    this.#timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.#timer.unref();
    this.#log.info('Registering Node', { heartbeatMs: this.heartbeatMs, internalIP: this.#o.facts.internalIP });
  }

  /** Puts a lease renewal and the node status now (also called when the hub reconnects). */
  heartbeat(): void {
    const now = this.#now();
    try {
      this.#o.outbox.put('lease', `coordination.k8s.io/v1/Lease/kube-node-lease/${this.#o.nodeName}`, {
        holderIdentity: this.#o.nodeName, leaseDurationSeconds: this.#o.leaseDurationSeconds ?? 40, renewTime: microTime(now),
      });
      // Status patches need the Node; the cloud writes reports concurrently, so while the registration
      // (which carries the same conditions) is still pending, a status report would race it and 404.
      if (!this.#registrationPending()) this.#o.outbox.put('node-status', this.#key, { conditions: this.#conditions() });
      this.heartbeats++;
      this.#o.notify?.();
    } catch (err) {
      this.#log.error('Failed to queue the node heartbeat', { err });
    }
  }

  #registrationPending(): boolean {
    const id = this.#registerId;
    return id !== undefined && this.#o.outbox.pending(1, id - 1)[0]?.id === id;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
