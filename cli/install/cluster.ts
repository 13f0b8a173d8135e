/**
 * `outpost init` / `outpost reset --cloud` in cluster mode: the objects of
 * config/default (CRDs, RBAC, namespace, Deployment, Service) applied with
 * server-side apply, plus the hub PKI Secret. `kubectl apply -k
 * config/default` installs the same objects (a unit test compares the two);
 * the only difference is that init also creates the PKI at once (so it can
 * print the CA pin and mint tokens) and writes the advertised addresses into
 * the Deployment, where `kubectl apply -k` leaves that to the cloud's first
 * start and to an overlay.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { KubeApiError, KubeClient } from '../../controllers/runtime/index.ts';
import { ensureHubPki, SecretPkiStore, tokenLabel, type EnsureResult } from '../../cloud/bootstrap/index.ts';
import { cloudNamespace } from '../../cloud/rbac.ts';
import { CliError } from '../errors.ts';
import { waitEstablished } from '../apply-manifests.ts';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const configDir = join(repoRoot, 'config');
export const pkiSecretName = 'outpost-hub-pki';
export const deploymentName = 'outpost-cloud';
export const serviceName = 'outpost-cloudhub';
/** In-cluster names every serving certificate carries. */
export const serviceDnsNames = [`${serviceName}.${cloudNamespace}.svc`, `${serviceName}.${cloudNamespace}.svc.cluster.local`];
export const pkiFingerprintAnnotation = 'outpost.io/pki-fingerprint';
export const fieldManager = 'outpost-cli';

/**
 * Whether `outpost cloud` serves the admission webhooks (webhooks/startWebhooks
 * in service mode on :9443). While false, init skips config/webhook unless
 * --webhooks is passed: configurations with failurePolicy Fail and no server
 * would refuse every Device, DeviceModel, NodeGroup and EdgeApplication write.
 * Flip together with adding ../webhook to config/default/kustomization.yaml.
 */
export const WEBHOOKS_SERVED_BY_CLOUD = true;

/**
 * The objects of a kustomization that uses only `resources` (files or
 * directories with their own kustomization.yaml), in kustomize's order.
 * Throws for other fields, so what init applies cannot silently differ
 * from `kubectl apply -k`.
 */
export function renderKustomization(dir: string): k8s.KubernetesObject[] {
  const k = YAML.parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>;
  const extra = Object.keys(k).filter((f) => !['apiVersion', 'kind', 'resources'].includes(f));
  if (extra.length) throw new Error(`${dir}/kustomization.yaml uses ${extra.join(', ')}; outpost init renders only "resources"`);
  return ((k.resources ?? []) as string[]).flatMap((r) => {
    const p = join(dir, r);
    if (statSync(p).isDirectory()) return renderKustomization(p);
    return YAML.parseAllDocuments(readFileSync(p, 'utf8')).map((d) => d.toJS() as k8s.KubernetesObject).filter((o) => o && typeof o === 'object');
  });
}

export interface InstallOptions {
  /** Addresses edges dial (IPs or DNS names); become SANs and Deployment args. */
  advertise: string[];
  image?: string;
  /** Also apply config/webhook (default: WEBHOOKS_SERVED_BY_CLOUD). */
  webhooks?: boolean;
  /** Server-side dry run: nothing is persisted, the PKI is not created. */
  dryRun?: boolean;
  /** Port edges are told for the hub (NodePort/LoadBalancer mapping). */
  advertiseHubPort?: number;
  progress?: (line: string) => void;
}

const isCrd = (o: k8s.KubernetesObject) => o.kind === 'CustomResourceDefinition';

/** The objects init applies, with its flags folded into the Deployment. Pure. */
export function installObjects(o: Pick<InstallOptions, 'advertise' | 'image' | 'webhooks' | 'advertiseHubPort'>, fingerprint?: string): k8s.KubernetesObject[] {
  const objects = renderKustomization(join(configDir, 'default'));
  if (o.webhooks ?? WEBHOOKS_SERVED_BY_CLOUD) objects.push(...renderKustomization(join(configDir, 'webhook')));
  return objects.map((obj) => {
    if (obj.kind !== 'Deployment' || obj.metadata?.name !== deploymentName) return obj;
    const d = structuredClone(obj) as k8s.V1Deployment;
    const c = d.spec!.template.spec!.containers[0]!;
    if (o.image) c.image = o.image;
    const keep = (c.args ?? []).filter((a) => !a.startsWith('--advertise-address=') && !a.startsWith('--advertise-hub-port='));
    c.args = [...keep, ...[...new Set([...serviceDnsNames.slice(0, 1), ...o.advertise])].map((a) => `--advertise-address=${a}`),
      ...(o.advertiseHubPort ? [`--advertise-hub-port=${o.advertiseHubPort}`] : [])];
    if (fingerprint) d.spec!.template.metadata = { ...d.spec!.template.metadata, annotations: { ...d.spec!.template.metadata?.annotations, [pkiFingerprintAnnotation]: fingerprint } };
    return d;
  });
}

async function apply(kc: k8s.KubeConfig, objs: k8s.KubernetesObject[], dryRun: boolean): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objs) {
    try {
      await api.patch(obj, undefined, dryRun ? 'All' : undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply);
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      throw new CliError('CLI_INSTALL_FAILED', `applying ${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name} failed: ${typeof body === 'string' ? body.slice(0, 400) : (err as Error).message}; check that the kubeconfig's identity may create it (init needs cluster-admin once; the cloud itself runs with the least-privilege role in config/rbac)`, { cause: err });
    }
  }
}

/**
 * Installs Outpost into the cluster of `kc`. Idempotent: server-side apply
 * under one field manager, and the PKI keeps its CA (re-issuing the serving
 * certificate only for new addresses, which rolls the Deployment through the
 * fingerprint annotation). Throws CLI_INSTALL_FAILED naming the object.
 */
export async function installCluster(kc: k8s.KubeConfig, o: InstallOptions): Promise<{ pki?: EnsureResult; objects: k8s.KubernetesObject[] }> {
  const say = o.progress ?? (() => undefined);
  const plain = installObjects(o);
  const ns = plain.filter((x) => x.kind === 'Namespace');
  const crds = plain.filter(isCrd);
  say(`${o.dryRun ? '[dry run] ' : ''}applying ${crds.length} CRDs`);
  await apply(kc, [...ns, ...crds], !!o.dryRun);
  if (!o.dryRun) await waitEstablished(kc, crds.map((c) => c.metadata!.name!));
  let pki: EnsureResult | undefined;
  if (!o.dryRun) {
    say(`hub PKI in Secret ${cloudNamespace}/${pkiSecretName} (SANs: ${[...serviceDnsNames, ...o.advertise].join(', ')})`);
    pki = await ensureHubPki(new SecretPkiStore(new KubeClient(kc), cloudNamespace, pkiSecretName), { advertise: [...serviceDnsNames, ...o.advertise] });
  }
  const { parseCertificate } = await import('../../lib/pki.ts');
  const objects = installObjects(o, pki ? parseCertificate(pki.pki.serving.certPem).fingerprint.slice(7, 23) : undefined);
  const rest = objects.filter((x) => !isCrd(x) && x.kind !== 'Namespace');
  say(`${o.dryRun ? '[dry run] ' : ''}applying ${rest.map((x) => `${x.kind}/${x.metadata?.name}`).join(', ')}`);
  await apply(kc, rest, !!o.dryRun);
  return { ...(pki ? { pki } : {}), objects };
}

/** What `reset --cloud` removes: everything init applied (CRDs only when asked), token and PKI Secrets with the namespace. */
export async function uninstallCluster(kc: k8s.KubeConfig, o: { deleteCrds?: boolean; progress?: (l: string) => void }): Promise<string[]> {
  const client = new KubeClient(kc);
  const objects = [...installObjects({ advertise: [], webhooks: false }), ...renderKustomization(join(configDir, 'webhook'))];
  const removed: string[] = [];
  for (const obj of objects.reverse()) {
    if (isCrd(obj) && !o.deleteCrds) continue;
    const ref = { apiVersion: obj.apiVersion!, kind: obj.kind!, name: obj.metadata!.name!, ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}) };
    try {
      const path = await client.pathFor(ref);
      await client.request('DELETE', path, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
      removed.push(`${obj.kind}/${obj.metadata!.name}`);
      o.progress?.(`deleted ${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata!.name}`);
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) continue;
      throw new CliError('CLI_INSTALL_FAILED', `deleting ${obj.kind} ${obj.metadata!.name} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  return removed;
}

/** Labels of the objects init creates outside config/ (for `doctor`). */
export const tokenSecretSelector = tokenLabel;
