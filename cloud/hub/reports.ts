/**
 * Upstream reports → API-server writes. A node may write only its own Node
 * (registration and status), its Lease, the status of pods bound to it,
 * events about its own objects, and the status of its devices; anything else
 * is refused (permanently, so the edge drops it) and logged. The node's
 * identity is the session's certificate identity, never anything in the report.
 */
import type { Report } from '../../edge/protocol/index.ts';
import { KubeApiError, type KubeClient } from '../../controllers/runtime/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { ReportHandler } from './hub.ts';
import { objectKey } from './routing.ts';
import type { ReportOutcome } from './session.ts';

export const edgeRoleLabel = 'node-role.kubernetes.io/edge';
export const fieldManager = 'outpost-cloudhub';

/** Read access to the hub's caches, for authorization. */
export interface ReportLookups {
  /** The object for a protocol key, from the informer caches. */
  get(key: string): { metadata?: { uid?: string }; spec?: unknown } | undefined;
}

type Denied = { code: string; message: string };

/** Extra writers for report kinds owned by other features (device twins). */
export type KindWriter = (node: string, report: Report) => Promise<void>;

/**
 * Pure: may `node` send `report`? Returns undefined when allowed, or why not.
 * Pod, event and device checks read the caches through `lookups`.
 */
export function authorizeReport(node: string, report: Report, lookups: ReportLookups): Denied | undefined {
  const forbid = (why: string): Denied => ({ code: 'Forbidden', message: `node ${node} may not ${why}` });
  const ownNode = objectKey('v1', 'Node', '', node);
  switch (report.kind) {
    case 'node-register':
    case 'node-status':
      return report.key === ownNode ? undefined : forbid(`write ${report.key} (only ${ownNode})`);
    case 'lease':
      return report.key === objectKey('coordination.k8s.io/v1', 'Lease', 'kube-node-lease', node) ? undefined : forbid(`renew ${report.key}`);
    case 'pod-status': {
      if (!report.key.startsWith('v1/Pod/')) return forbid(`write pod status to ${report.key}`);
      const pod = lookups.get(report.key) as { spec?: { nodeName?: string } } | undefined;
      if (!pod) return { code: 'NotFound', message: `${report.key} does not exist (any more)` };
      return pod.spec?.nodeName === node ? undefined : forbid(`write status of ${report.key}, which is bound to ${pod.spec?.nodeName ?? 'no node'}`);
    }
    case 'event': {
      const involved = (report.payload as { involvedObject?: { kind?: string; name?: string; namespace?: string; apiVersion?: string } }).involvedObject;
      if (!involved?.kind || !involved.name) return { code: 'Invalid', message: 'event.involvedObject.kind and .name are required' };
      if (involved.kind === 'Node') return involved.name === node ? undefined : forbid(`record events about node ${involved.name}`);
      const key = objectKey(involved.apiVersion ?? 'v1', involved.kind, involved.namespace ?? '', involved.name);
      const obj = lookups.get(key) as { spec?: { nodeName?: string } } | undefined;
      // a pod deleted before its last events arrived (Killing, ...): refused, but not a security event
      if (!obj && ['Pod', 'Device'].includes(involved.kind)) return { code: 'NotFound', message: `${key} does not exist (any more)` };
      return obj?.spec?.nodeName === node ? undefined : forbid(`record events about ${key}`);
    }
    case 'device-twin':
    case 'device-state': {
      const dev = lookups.get(report.key) as { spec?: { nodeName?: string } } | undefined;
      if (!report.key.startsWith('devices.kubeedge.io/v1beta1/Device/')) return forbid(`write device status to ${report.key}`);
      if (!dev) return { code: 'NotFound', message: `${report.key} does not exist (any more)` };
      return dev.spec?.nodeName === node ? undefined : forbid(`write status of ${report.key}, which is bound to ${dev.spec?.nodeName ?? 'no node'}`);
    }
  }
}

/**
 * Labels a node may set on its own Node, like Kubernetes' NodeRestriction
 * admission: nothing under node-restriction.kubernetes.io/ (admins put
 * isolation labels there), no roles, and not the NodeGroup membership label
 * (the NodeGroup controller owns it). Pure; the rest pass through.
 */
export function nodeSettableLabels(labels: Record<string, string>): Record<string, string> {
  const denied = (k: string) => k.startsWith('node-restriction.kubernetes.io/') || k.startsWith('node-role.kubernetes.io/') || k === 'apps.kubeedge.io/belonging-to';
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !denied(k)));
}

/** Whether an API error means "retrying will not help" (the report is dropped). */
function permanent(err: unknown): boolean {
  return err instanceof KubeApiError && [400, 403, 404, 410, 422].includes(err.statusCode);
}

export class KubeReportHandler implements ReportHandler {
  readonly #client: KubeClient;
  readonly #lookups: ReportLookups;
  readonly #log: Logger;
  readonly writers = new Map<string, KindWriter>();

  constructor(client: KubeClient, lookups: ReportLookups, log: Logger) {
    this.#client = client;
    this.#lookups = lookups;
    this.#log = log.child({ component: 'reports' });
  }

  async handle(node: string, report: Report): Promise<ReportOutcome> {
    const denied = authorizeReport(node, report, this.#lookups);
    if (denied) {
      if (denied.code === 'Forbidden') this.#log.warn('Refused report', { node, kind: report.kind, key: report.key, reason: denied.message });
      return { ok: false, permanent: true, ...denied };
    }
    try {
      await this.#write(node, report);
      return { ok: true };
    } catch (err) {
      const code = err instanceof KubeApiError ? (err.reason ?? String(err.statusCode)) : 'Unavailable';
      return { ok: false, permanent: permanent(err), code: code.replace(/[^A-Za-z0-9_]/g, '_').replace(/^[^A-Za-z]/, 'E'), message: err instanceof Error ? err.message : String(err) };
    }
  }

  async #write(node: string, r: Report): Promise<void> {
    const c = this.#client;
    const p = r.payload as Record<string, unknown>;
    switch (r.kind) {
      case 'node-register': {
        const meta = (p.metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
        const labels = { ...nodeSettableLabels(meta.labels ?? {}), [edgeRoleLabel]: '' };
        const existing = await c.get({ apiVersion: 'v1', kind: 'Node', name: node });
        if (!existing) {
          await c.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels, annotations: meta.annotations ?? {} }, spec: (p.spec ?? {}) as object }, { fieldManager });
          this.#log.info('Registered Node', { node });
        } else {
          await c.mergePatch({ apiVersion: 'v1', kind: 'Node', name: node }, { metadata: { labels, annotations: meta.annotations ?? {} } }, { fieldManager });
        }
        if (p.status) await c.mergePatch({ apiVersion: 'v1', kind: 'Node', name: node }, { status: p.status }, { subresource: 'status', fieldManager });
        return;
      }
      case 'node-status':
        await c.mergePatch({ apiVersion: 'v1', kind: 'Node', name: node }, { status: p }, { subresource: 'status', fieldManager });
        return;
      case 'lease': {
        const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'kube-node-lease', name: node };
        const spec = { holderIdentity: node, leaseDurationSeconds: p.leaseDurationSeconds ?? 40, renewTime: p.renewTime };
        try {
          await c.mergePatch(ref, { spec }, { fieldManager });
        } catch (err) {
          if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
          const nodeObj = await c.get<{ metadata: { uid: string } }>({ apiVersion: 'v1', kind: 'Node', name: node });
          await c.create({
            apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
            metadata: { name: node, namespace: 'kube-node-lease', ...(nodeObj ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeObj.metadata.uid }] } : {}) },
            spec,
          }, { fieldManager });
        }
        return;
      }
      case 'pod-status': {
        const [, , ns, name] = r.key.split('/') as [string, string, string, string];
        const uid = p.uid as string | undefined;
        const cached = this.#lookups.get(r.key);
        if (uid && cached?.metadata?.uid && cached.metadata.uid !== uid) throw new KubeApiError(404, `${r.key} was recreated (uid ${cached.metadata.uid}, report for ${uid})`, 'NotFound');
        if (p.deleted === true) {
          // the edge finished a graceful deletion: remove the API object, like the kubelet does
          await c.request('DELETE', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`, {
            body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, ...(uid ? { preconditions: { uid } } : {}) },
          });
          return;
        }
        await c.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name }, { status: p.status }, { subresource: 'status', fieldManager });
        return;
      }
      case 'event': {
        const ns = ((p.metadata as { namespace?: string } | undefined)?.namespace) ?? ((p.involvedObject as { namespace?: string }).namespace) ?? 'default';
        // apiVersion and kind go last: KubeClient.create picks the URL from them, so a payload's own
        // `kind: ClusterRoleBinding` must never reach it (that was a privilege escalation).
        try {
          await c.create({ ...p, metadata: { ...(p.metadata as object), namespace: ns }, apiVersion: 'v1', kind: 'Event' }, { fieldManager });
        } catch (err) {
          // An event is identified by its name: AlreadyExists means an earlier send of this
          // report was written and its report-ack lost, so it is done (at-least-once delivery).
          if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
        }
        return;
      }
      case 'device-twin':
      case 'device-state': {
        const w = this.writers.get(r.kind);
        if (!w) throw new Error(`no writer for ${r.kind} reports in this cloud (devices controller not running)`);
        await w(node, r);
        return;
      }
    }
  }
}
