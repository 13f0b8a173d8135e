// The cloud image (build-outpost-image.ts) runs for real: built, imported the
// way `kind load image-archive` does, and started through CRI on a private
// containerd (hack/containerd), host network only (platform-notes §5.3), with
// the securityContext of config/manager/deployment.yaml (uid 65532, read-only
// root filesystem, no capabilities, RuntimeDefault seccomp). `outpost cloud`
// gets the local control plane's kubeconfig as a read-only file mount.
// Skipped where containerd/runc are not installed (CI installs them).
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriClient } from '../../edge/pods/cri/client.ts';
import { createNamespace, deleteNamespace, kubeconfigPath, kubectlOk } from '../../test/support/kube.ts';
import { checkInstalled, startContainerd, type Containerd } from '../containerd/containerd.ts';
import { buildOutpostImage, imageUid, importOutpostImage, type OutpostImage } from './build-outpost-image.ts';
import { freePort } from '../../lib/ports.ts';

const missing = (() => {
  try {
    checkInstalled();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
})();
if (missing) process.stderr.write(`hack/images/outpost-image.int.test.ts: skipped: ${missing}\n`);

/** The kubeconfig at `path` with its certificate and key files embedded (a mounted file cannot point at host paths). */
function selfContainedKubeconfig(path: string): string {
  const kc = YAML.parse(readFileSync(path, 'utf8')) as { clusters: { cluster: Record<string, string> }[]; users: { user: Record<string, string> }[] };
  const embed = (o: Record<string, string>, key: string) => {
    if (!o[key]) return;
    o[`${key}-data`] = readFileSync(o[key]).toString('base64');
    delete o[key];
  };
  for (const c of kc.clusters) embed(c.cluster, 'certificate-authority');
  for (const u of kc.users) for (const k of ['client-certificate', 'client-key']) embed(u.user, k);
  return YAML.stringify(kc);
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

describe.skipIf(missing !== undefined)(`the outpost image under containerd (CRI)${missing ? ` — skipped: ${missing}` : ''}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'outpost-image-test-'));
  const logDir = join(work, 'logs');
  let image: OutpostImage;
  let containerd: Containerd | undefined;
  let cri: CriClient | undefined;
  let sandboxId = '';
  let sandboxConfig: object;
  const namespaces: string[] = [];
  const containers: string[] = [];
  const attempts = new Map<string, number>();

  beforeAll(async () => {
    image = await buildOutpostImage({ outDir: join(work, 'images') });
    containerd = await startContainerd({ dir: join(work, 'containerd'), images: true });
    await importOutpostImage(containerd.socket, image.archive);
    cri = new CriClient(`unix://${containerd.socket}`);
    await cri.ready();
    mkdirSync(logDir, { recursive: true });
    sandboxConfig = {
      metadata: { name: 'outpost-cloud', uid: randomUUID(), namespace: 'outpost-image-test', attempt: 0 },
      log_directory: logDir,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    sandboxId = (await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig, runtime_handler: '' }, 120_000)).pod_sandbox_id;
  });

  afterAll(async () => {
    for (const id of containers) {
      await cri?.runtime('StopContainer', { container_id: id, timeout: 5 }, 30_000).catch(() => undefined);
      await cri?.runtime('RemoveContainer', { container_id: id }).catch(() => undefined);
    }
    if (sandboxId) {
      await cri?.runtime('StopPodSandbox', { pod_sandbox_id: sandboxId }, 60_000).catch(() => undefined);
      await cri?.runtime('RemovePodSandbox', { pod_sandbox_id: sandboxId }, 60_000).catch(() => undefined);
    }
    cri?.close();
    await containerd?.stop();
    for (const ns of namespaces) await deleteNamespace(ns).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  /** Creates and starts a container of the image with the Deployment's container securityContext; its log is logOf(id). */
  async function start(name: string, args: string[], mounts: object[] = []): Promise<string> {
    // a retried test starts the same container again: a new attempt, as the kubelet would
    const attempt = attempts.get(name) ?? 0;
    attempts.set(name, attempt + 1);
    const config = {
      metadata: { name, attempt },
      // the name as config/manager/deployment.yaml writes it; the CRI normalizes it to docker.io/library/…
      image: { image: `outpost:${image.version}` },
      args, mounts, log_path: `${name}-${attempt}.log`,
      linux: {
        security_context: {
          namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' },
          run_as_user: { value: imageUid },
          readonly_rootfs: true, no_new_privs: true,
          capabilities: { drop_capabilities: ['ALL'] },
          seccomp: { profile_type: 'RuntimeDefault' },
        },
      },
    };
    const id = (await cri!.runtime<{ container_id: string }>('CreateContainer', { pod_sandbox_id: sandboxId, config, sandbox_config: sandboxConfig }, 120_000)).container_id;
    containers.push(id);
    logs.set(id, join(logDir, `${name}-${attempt}.log`));
    await cri!.runtime('StartContainer', { container_id: id }, 120_000);
    return id;
  }

  const logs = new Map<string, string>();
  const logOf = (id: string) => (existsSync(logs.get(id) ?? '') ? readFileSync(logs.get(id)!, 'utf8') : '');

  async function exited(id: string): Promise<number> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { status } = await cri!.runtime<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: id });
      if (status.state === 'CONTAINER_EXITED') return status.exit_code;
      if (Date.now() > deadline) throw new Error(`container still ${status.state} after 60 s; log:\n${logOf(id)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('is tagged as the Deployment names it and declares the non-root user (what runAsNonRoot checks)', async () => {
    const r = await cri!.image<{ image: { repo_tags: string[]; uid: { value: number } | null } | null }>('ImageStatus', { image: { image: `outpost:${image.version}` } });
    expect(r.image?.repo_tags).toContain(`docker.io/library/outpost:${image.version}`);
    expect(r.image?.uid?.value).toBe(imageUid);
  });

  it('outpost --version and --help exit 0', async () => {
    const version = await start('version', ['--version']);
    expect(await exited(version), logOf(version)).toBe(0);
    expect(logOf(version)).toMatch(new RegExp(`stdout F outpost ${image.version.replaceAll('.', '\\.')} \\(node v24\\.`));
    const help = await start('help', ['--help']);
    expect(await exited(help), logOf(help)).toBe(0);
    expect(logOf(help)).toMatch(/stdout F +cloud +run the cloud side/);
  });

  it('outpost cloud comes up with a mounted kubeconfig: /readyz 200, the hub accepts TLS, uid 65532', async () => {
    const namespace = await createNamespace('outpost-image');
    namespaces.push(namespace);
    const kubeDir = mkdtempSync(join(work, 'kube-'));
    const kubeconfig = join(kubeDir, 'kubeconfig');
    writeFileSync(kubeconfig, selfContainedKubeconfig(kubeconfigPath()));
    chownSync(kubeconfig, imageUid, imageUid);
    chmodSync(kubeconfig, 0o400);
    const [health, hub, bootstrap] = [await freePort(), await freePort(), await freePort()];
    const id = await start('cloud', [
      'cloud', '--kubeconfig=/etc/outpost/kubeconfig', `--leader-election-namespace=${namespace}`,
      `--pki-secret=${namespace}/outpost-hub-pki`, `--token-namespace=${namespace}`, '--advertise-address=127.0.0.1',
      '--hub-host=127.0.0.1', `--hub-port=${hub}`, `--bootstrap-port=${bootstrap}`, `--health-port=${health}`, '--kubelet-port-range=off',
    ], [{ container_path: '/etc/outpost/kubeconfig', host_path: kubeconfig, readonly: true, propagation: 'PROPAGATION_PRIVATE' }]);

    const deadline = Date.now() + 90_000;
    while ((await httpStatus(`http://127.0.0.1:${health}/readyz`)) !== 200) {
      const { status } = await cri!.runtime<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: id });
      if (status.state === 'CONTAINER_EXITED') throw new Error(`outpost cloud exited with ${status.exit_code}; log:\n${logOf(id)}`);
      if (Date.now() > deadline) throw new Error(`/readyz not 200 after 90 s; log:\n${logOf(id)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    const secret = JSON.parse(await kubectlOk(['-n', namespace, 'get', 'secret', 'outpost-hub-pki', '-o', 'json'])) as { data: Record<string, string> };
    const ca = Buffer.from(secret.data['ca.crt']!, 'base64').toString();
    const authorized = await new Promise<boolean>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: hub, ca }, () => {
        resolve(s.authorized);
        s.destroy();
      });
      s.once('error', reject);
    });
    expect(authorized).toBe(true);

    const { info } = await cri!.runtime<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
    const pid = (JSON.parse(info.info!) as { pid: number }).pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(imageUid));
    expect(/^Gid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(imageUid));
  });
});
