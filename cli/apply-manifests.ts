/**
 * Applies YAML manifests with server-side apply under one field manager, and
 * waits for CRDs to become Established. Used by `outpost quickstart` and
 * (later) `outpost init`. Idempotent.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { CliError } from './errors.ts';

export const fieldManager = 'outpost-cli';

/** Reads every document of every *.yaml in `dir` (kustomization.yaml excluded). */
export function readManifests(dir: string): k8s.KubernetesObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as k8s.KubernetesObject))
    .filter((o) => o && typeof o === 'object');
}

/** Server-side applies each object (force: we own these fields). */
export async function applyAll(kc: k8s.KubeConfig, objects: k8s.KubernetesObject[], namespace?: string): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    const o = structuredClone(obj);
    if (namespace && !o.metadata?.namespace) o.metadata = { ...o.metadata, namespace };
    await api.patch(o, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply);
  }
}

/** Waits until every named CRD reports Established=True. */
export async function waitEstablished(kc: k8s.KubeConfig, names: string[], timeoutMs = 60_000): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new CliError('CLI_INSTALL_FAILED', `CRD ${name} is not Established after ${timeoutMs / 1000}s; check the API server's logs`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
