/**
 * An in-memory Lease with the API server's optimistic concurrency (409 on a
 * stale resourceVersion), for unit tests of leader election and the Manager.
 * Set `failing` to simulate an unreachable API server.
 */
import { KubeApiError } from './errors.ts';
import type { Lease, LeaseSpec, LeaseStore } from './leader.ts';

export class MemoryLeaseStore implements LeaseStore {
  lease: Lease | undefined;
  failing = false;
  #rv = 0;

  async get(): Promise<Lease | undefined> {
    this.#check();
    return structuredClone(this.lease);
  }

  async create(spec: LeaseSpec): Promise<Lease> {
    this.#check();
    if (this.lease) throw new KubeApiError(409, 'Lease already exists', 'AlreadyExists');
    this.lease = { metadata: { name: 'lease', resourceVersion: String(++this.#rv) }, spec };
    return structuredClone(this.lease);
  }

  async update(lease: Lease, spec: LeaseSpec): Promise<Lease> {
    this.#check();
    if (!this.lease || lease.metadata.resourceVersion !== this.lease.metadata.resourceVersion) throw new KubeApiError(409, 'Lease was modified', 'Conflict');
    this.lease = { metadata: { ...this.lease.metadata, resourceVersion: String(++this.#rv) }, spec };
    return structuredClone(this.lease);
  }

  #check(): void {
    if (this.failing) throw new Error('connect ECONNREFUSED (MemoryLeaseStore.failing)');
  }
}
