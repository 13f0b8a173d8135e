/**
 * Device and DeviceModel fixtures for edge-side tests: objects shaped as the
 * cloud sends them, and a helper to "receive" them into an edge store as the
 * hub would (applyUpsert with a fresh resourceVersion).
 */
import type { Device, DeviceModel, DeviceProperty, ModelProperty } from '../../api/index.ts';
import type { EventBus } from '../../edge/devices/event-bus.ts';
import { topicMatches } from '../../edge/devices/topics.ts';
import type { EdgeStore } from '../../edge/store/store.ts';

let rv = 1000;

export function deviceModel(namespace: string, name: string, properties: ModelProperty[], protocol = 'modbus'): DeviceModel {
  return { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { namespace, name, uid: `uid-${name}` }, spec: { protocol, properties } };
}

export function device(namespace: string, name: string, o: {
  model: string; node?: string; properties?: DeviceProperty[]; protocol?: { protocolName?: string; configData?: Record<string, unknown> }; generation?: number; uid?: string;
  stateReport?: { reportToCloud?: boolean; reportCycle?: number };
}): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
    metadata: { namespace, name, uid: o.uid ?? `uid-${namespace}-${name}`, generation: o.generation ?? 1 },
    spec: {
      deviceModelRef: { name: o.model }, nodeName: o.node ?? 'edge-1', properties: o.properties ?? [],
      ...(o.protocol ? { protocol: o.protocol } : {}), ...(o.stateReport ? { stateReport: o.stateReport } : {}),
    },
  };
}

/** Stores an object in the edge store the way EdgeHub applies an upsert. */
export function receive(store: EdgeStore, obj: Device | DeviceModel): void {
  const key = `devices.kubeedge.io/v1beta1/${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
  store.objects.applyUpsert(key, String(++rv), JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } }));
}

/** Removes an object from the edge store the way EdgeHub applies a delete. */
export function forget(store: EdgeStore, kind: 'Device' | 'DeviceModel', namespace: string, name: string): void {
  store.objects.applyDelete(`devices.kubeedge.io/v1beta1/${kind}/${namespace}/${name}`);
}

/** An EventBus without a broker: subscriptions by MQTT filter, publishes recorded (`deliver` plays a client's publish). */
export class MemoryBus implements EventBus {
  readonly kind = 'embedded' as const;
  readonly url = 'memory://';
  readonly subs: { filter: string; handler: (topic: string, payload: Buffer) => void }[] = [];
  readonly published: { topic: string; payload: Buffer }[] = [];
  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    this.subs.push({ filter, handler });
  }
  async publish(topic: string, payload: Uint8Array | string): Promise<void> {
    this.published.push({ topic, payload: Buffer.from(payload) });
  }
  deliver(topic: string, payload: Buffer): void {
    for (const s of this.subs) if (topicMatches(s.filter, topic)) s.handler(topic, payload);
  }
  async close(): Promise<void> {}
}
