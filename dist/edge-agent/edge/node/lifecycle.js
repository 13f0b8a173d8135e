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
                                                 
                                               
import { defaultKubeletPort, nodeConditions, nodeInfo, nodeLabels, nodeResources, readPressure,                               } from './node-info.js';

                                       
                   
                 
              
                   
                  
                                  
                                                              
                      
                                                                              
                       
                                                      
                                
                   
                       
                                  
                                            
                            
                     
 

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms        )         {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const seconds = (ms        ) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export class NodeLifecycle {
           #o                      ;
           #log        ;
           #since = new Map                                        ();
           #key        ;
  #timer                            ;
  #registerId                    ;
           #now              ;
  /** Heartbeats put so far (tests, metrics). */
  heartbeats = 0;

  constructor(opts                      ) {
    this.#o = opts;
    this.#log = opts.log.child({ component: 'node' });
    this.#key = `v1/Node//${opts.nodeName}`;
    this.#now = opts.now ?? Date.now;
  }

  get heartbeatMs()         {
    return this.#o.heartbeatMs ?? 10_000;
  }

  /** The Node as registered (labels, status with capacity, addresses, nodeInfo, daemonEndpoints, conditions). */
  registration()                                                                                                                                                      {
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
  start()       {
    if (this.#timer) return;
    this.#registerId = this.#o.outbox.put('node-register', this.#key, this.registration());
    this.heartbeat();
    this.#timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.#timer.unref();
    this.#log.info('Registering Node', { heartbeatMs: this.heartbeatMs, internalIP: this.#o.facts.internalIP });
  }

  /** Puts a lease renewal and the node status now (also called when the hub reconnects). */
  heartbeat()       {
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

  #registrationPending()          {
    const id = this.#registerId;
    return id !== undefined && this.#o.outbox.pending(1, id - 1)[0]?.id === id;
  }

  stop()       {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
