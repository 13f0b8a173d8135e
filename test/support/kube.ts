/**
 * Helpers for integration and e2e tests: a client-node KubeConfig for the
 * cluster the global setup provided, a kubectl runner (argv only), and
 * throw-away namespaces. Tests assert end state with expect.poll, not calls.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { readState } from '../../hack/local-cluster/control-plane.ts';

export function kubeconfigPath(): string {
  return inject('kubeconfig');
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

function kubectlBin(): string {
  const s = readState();
  if (inject('localCluster') && s && existsSync(join(s.binDir, 'kubectl'))) return join(s.binDir, 'kubectl');
  return 'kubectl';
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test cluster; never throws for a non-zero exit (check `code`). */
export function kubectl(argv: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(kubectlBin(), ['--kubeconfig', kubeconfigPath(), ...argv], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like kubectl() but throws with stderr when the exit code is not 0. */
export async function kubectlOk(argv: string[], input?: string): Promise<string> {
  const r = await kubectl(argv, input);
  if (r.code !== 0) throw new Error(`kubectl ${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Creates a uniquely named namespace and returns its name; delete it with deleteNamespace. */
export async function createNamespace(prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  // Pods are admitted only once the controller-manager made the default ServiceAccount.
  for (let i = 0; i < 100; i++) {
    if (await core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubeConfig().makeApiClient(k8s.CoreV1Api).deleteNamespace({ name }).catch(() => undefined);
}

/** Server-side applies the CRDs in config/crd/bases and waits until they are Established. */
export async function installCrds(): Promise<void> {
  const dir = join(import.meta.dirname, '..', '..', 'config', 'crd', 'bases');
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', dir]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', dir]);
}
