/**
 * Devices on the cloud side. Two parts share the pure plan (plan.ts):
 *
 * - The status writer (status-writer.ts), registered on the hub's report
 *   handler: edge twin and state reports → Device status, coalesced per
 *   report cycle, acknowledged only once written. Serves on every replica
 *   that runs the hub.
 * - The Device controller (leader-elected): recomputes the conditions
 *   (Online, Synced) and observedGeneration when the spec changes (a new
 *   desired value makes Synced False until the edge reports it), when the
 *   Device's node becomes (not) Ready, and every 5 minutes; it never writes
 *   twins, so it cannot overwrite a newer report with a stale cache.
 *
 * Routing Devices (by spec.nodeName) and their DeviceModels to nodes is the
 * hub's job (cloud/hub/routing.ts): desired values reach the edge with the
 * Device object, and on reconnect through the hub's resume.
 */
import * as k8s from '@kubernetes/client-node';
import { DeviceGVK, type Device, type DeviceStatus } from '../../api/index.ts';
import type { Report } from '../../edge/protocol/index.ts';
import type { Logger } from '../../lib/log.ts';
import { collectionPath, KubeClient, patchStatus, type Informer, type Manager, type ReconcileContext, type Request } from '../runtime/index.ts';
import { conditionsChanged, conditionsPatch, planDeviceStatus, type ObservedNode } from './plan.ts';
import { DeviceStatusWriter } from './status-writer.ts';

export const controllerName = 'device';
/** Field manager of status writes from edge reports. */
export const statusFieldManager = 'outpost-device-status';

/** RBAC the device controller and the status writer need. */
export const rbac = [
  { apiGroups: ['devices.kubeedge.io'], resources: ['devices', 'devicemodels'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['devices.kubeedge.io'], resources: ['devices/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
];

const devicePrefix = `${DeviceGVK.apiVersion}/Device/`;

function observeNode(n: k8s.V1Node | undefined): ObservedNode | undefined {
  if (!n) return undefined;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status as ObservedNode['ready'] | undefined;
  return ready ? { ready } : {};
}

function informers(mgr: Manager): { devices: Informer<Device>; nodes: Informer<k8s.V1Node> } {
  return {
    devices: mgr.informers.informerFor<Device>(collectionPath(DeviceGVK.apiVersion, DeviceGVK.plural)),
    nodes: mgr.informers.informerFor<k8s.V1Node>(collectionPath('v1', 'nodes')),
  };
}

/** Registers the (leader-elected) Device conditions controller with a manager. */
export function addDeviceController(mgr: Manager): void {
  const client = mgr.client!;
  const { devices, nodes } = informers(mgr);

  const reconcile = async (req: Request, ctx: ReconcileContext) => {
    const device = devices.get(req.name, req.namespace);
    if (!device || device.metadata.deletionTimestamp) return;
    const nodeName = device.spec?.nodeName;
    const next = planDeviceStatus({ device, ...(nodeName ? { node: observeNode(nodes.get(nodeName)) } : {}), now: ctx.now });
    if (conditionsChanged(device.status, next)) {
      await patchStatus(client, DeviceGVK.apiVersion, DeviceGVK.kind, device.metadata.namespace, device.metadata.name ?? '', conditionsPatch(next));
      ctx.log.debug('Updated Device conditions', { conditions: next.conditions?.map((c) => `${c.type}=${c.status}`) });
    }
    // Device state depends on the outside world (edge, node): look again periodically.
    return { requeueAfter: 5 * 60_000 };
  };

  const devicesOnNode = (n: k8s.V1Node): Request[] =>
    devices.list().filter((d) => d.spec?.nodeName === n.metadata?.name).map((d) => ({ namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '' }));

  mgr.controller({ name: controllerName, reconcile })
    .watches(devices, (d) => [{ namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '' }])
    .watches(nodes, devicesOnNode);
}

/**
 * Creates the status writer over the manager's caches (and its own
 * client, so its connection pool is not shared with the controllers), and
 * registers it as the `device-twin` / `device-state` writer of `reports`.
 * Call before `manager.start()`. Deleted Devices are forgotten.
 */
export function addDeviceStatusWriter(
  mgr: Manager,
  reports: { writers: Map<string, (node: string, report: Report) => Promise<void>> },
  log: Logger,
  opts: { maxConcurrent?: number; floorMs?: number } = {},
): DeviceStatusWriter {
  const client = new KubeClient(mgr.client!.kubeConfig);
  const { devices, nodes } = informers(mgr);
  const writer = new DeviceStatusWriter({
    device: (key) => {
      if (!key.startsWith(devicePrefix)) return undefined;
      const [ns, name] = key.slice(devicePrefix.length).split('/') as [string, string];
      return devices.get(name, ns);
    },
    node: (name) => observeNode(nodes.get(name)),
    patchStatus: (ref, status: DeviceStatus) =>
      client.mergePatch({ apiVersion: DeviceGVK.apiVersion, kind: DeviceGVK.kind, namespace: ref.namespace, name: ref.name }, { status }, { subresource: 'status', fieldManager: statusFieldManager }),
    log,
    ...opts,
  });
  devices.onChange((type, d) => {
    if (type === 'delete') writer.forget(`${devicePrefix}${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`);
  });
  reports.writers.set('device-twin', writer.write);
  reports.writers.set('device-state', writer.write);
  return writer;
}
