/**
 * The one declaration of Outpost's admission webhooks: path, rules,
 * failurePolicy and handler of each. The server mounts `path` from it, and
 * manifests.ts renders the ValidatingWebhookConfiguration and
 * MutatingWebhookConfiguration from it (kubebuilder's `+kubebuilder:webhook`
 * marker, as data). webhooks/README.md explains every failurePolicy.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Device, DeviceModel, EdgeApplication, NodeGroup } from '../api/index.ts';
import type { AdmissionRequest, JsonObject, ValidateInput, ValidationResult } from './admission.ts';
import { validateDevice } from './device/validate.ts';
import { validateDeviceModel } from './devicemodel/validate.ts';
import { validateEdgeApplication } from './edgeapplication/validate.ts';
import { diff, type JsonPatchOp } from './json-patch.ts';
import type { LookupProvider } from './lookups.ts';
import { validateNodeGroup } from './nodegroup/validate.ts';
import { defaultPod, offlineLabel, offlineValue } from './pod/default.ts';
import { validateEdgeWorkload } from './pod/validate.ts';

/** What a handler returns; the server turns it into an AdmissionResponse. */
export interface HandlerResult extends ValidationResult {
  /** Mutating webhooks only; empty or absent means no change. */
  patch?: JsonPatchOp[];
}

/** Evaluates one admission request; a throw is answered per the webhook's failurePolicy. */
export type Handler = (req: AdmissionRequest, ctx: { lookups: LookupProvider }) => Promise<HandlerResult>;

/** One webhook: what the server mounts and what the configurations register. */
export interface WebhookDefinition {
  /** Fully qualified webhook name; kubectl prints it in `admission webhook "<name>" denied the request`. */
  name: string;
  type: 'validating' | 'mutating';
  /** URL path the server mounts the handler on. */
  path: string;
  rules: k8s.V1RuleWithOperations[];
  failurePolicy: 'Fail' | 'Ignore';
  /** Why this failurePolicy (rendered into webhooks/README.md and checked by a unit test). */
  failurePolicyReason: string;
  timeoutSeconds: number;
  objectSelector?: k8s.V1LabelSelector;
  namespaceSelector?: k8s.V1LabelSelector;
  handle: Handler;
}

/** Adapts a pure validator to a handler: decodes objects and runs it against the lookups. */
export function validating<T>(validate: (input: ValidateInput<T>) => ValidationResult): Handler {
  return (req, { lookups }) => lookups.run((l) => validate({
    operation: req.operation,
    object: (req.object ?? undefined) as T | undefined,
    oldObject: (req.oldObject ?? undefined) as T | undefined,
    namespace: req.namespace ?? '',
    lookups: l,
  }));
}

/** Adapts a pure defaulter to a handler: the patch is the diff between the object and its defaulted copy. */
export function mutating<T>(defaulter: (obj: T) => T): Handler {
  return async (req) => {
    if (req.object === undefined || req.object === null) return { allowed: true, warnings: [], violations: [] };
    const original = structuredClone(req.object) as T;
    return { allowed: true, warnings: [], violations: [], patch: diff(req.object, defaulter(original)) };
  };
}

const devices = { apiGroups: ['devices.kubeedge.io'], apiVersions: ['v1beta1'] };
const apps = { apiGroups: ['apps.kubeedge.io'], apiVersions: ['v1alpha1'] };
const failClosed = 'Fail: a Git-driven sync must learn about the mistake at admission, not from a broken Device or Deployment later; these kinds are written rarely, and only by people and GitOps tools, so a webhook outage delays changes without hurting running workloads.';
const failOpen = 'Ignore: pods are created by controllers all the time (including during an outage of Outpost itself); the checks are advice, so the cluster must never block on this webhook.';
/** System namespaces never go through the pod webhooks. */
const notSystem: k8s.V1LabelSelector = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease'] }] };

/** Every webhook Outpost serves, in the order they appear in the configurations. */
export const webhookDefinitions: readonly WebhookDefinition[] = [
  {
    name: 'devices.validate.outpost.io', type: 'validating', path: '/validate/devices',
    rules: [{ ...devices, resources: ['devices'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
    failurePolicy: 'Fail', failurePolicyReason: failClosed, timeoutSeconds: 5,
    handle: validating<Device>(validateDevice),
  },
  {
    name: 'devicemodels.validate.outpost.io', type: 'validating', path: '/validate/devicemodels',
    rules: [{ ...devices, resources: ['devicemodels'], operations: ['CREATE', 'UPDATE', 'DELETE'], scope: 'Namespaced' }],
    failurePolicy: 'Fail', failurePolicyReason: failClosed, timeoutSeconds: 5,
    handle: validating<DeviceModel>(validateDeviceModel),
  },
  {
    name: 'nodegroups.validate.outpost.io', type: 'validating', path: '/validate/nodegroups',
    rules: [{ ...apps, resources: ['nodegroups'], operations: ['CREATE', 'UPDATE'], scope: 'Cluster' }],
    failurePolicy: 'Fail', failurePolicyReason: failClosed, timeoutSeconds: 5,
    handle: validating<NodeGroup>(validateNodeGroup),
  },
  {
    name: 'edgeapplications.validate.outpost.io', type: 'validating', path: '/validate/edgeapplications',
    rules: [{ ...apps, resources: ['edgeapplications'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
    failurePolicy: 'Fail', failurePolicyReason: failClosed, timeoutSeconds: 5,
    handle: validating<EdgeApplication>(validateEdgeApplication),
  },
  {
    name: 'edge-workloads.validate.outpost.io', type: 'validating', path: '/validate/edge-workloads',
    rules: [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
    ],
    failurePolicy: 'Ignore', failurePolicyReason: failOpen, timeoutSeconds: 3, namespaceSelector: notSystem,
    handle: validating<JsonObject>(validateEdgeWorkload),
  },
  {
    name: 'offline-autonomy.mutate.outpost.io', type: 'mutating', path: '/mutate/offline-autonomy',
    rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
    failurePolicy: 'Ignore', failurePolicyReason: `${failOpen} A pod admitted without the toleration is only evicted sooner, as without Outpost.`,
    timeoutSeconds: 3, namespaceSelector: notSystem, objectSelector: { matchLabels: { [offlineLabel]: offlineValue } },
    handle: mutating<k8s.V1Pod>(defaultPod),
  },
];

/**
 * What the webhooks need from the API server in service mode (in-cluster):
 * watch the objects they look up, and manage their own configurations.
 */
export const webhookRbacRules: readonly k8s.V1PolicyRule[] = [
  { apiGroups: ['devices.kubeedge.io'], resources: ['devices', 'devicemodels'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps.kubeedge.io'], resources: ['nodegroups'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['nodes', 'namespaces'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'], verbs: ['get', 'create', 'patch', 'update', 'delete'] },
];
