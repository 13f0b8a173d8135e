/**
 * The README's main job, end to end, against whatever cluster the e2e suite
 * runs on (`outpost quickstart --kubeconfig`): the cloud side and an edge node
 * joined with a token come up as processes; the node is Ready, the simulated
 * device's twin reaches the Device status, a desired value flows down, the demo
 * app runs on the edge node, and `kubectl logs` / `kubectl exec` reach it
 * through the hub. `--down` removes everything it added.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { kubeConfig, kubeconfigPath, kubectl } from '../support/kube.ts';

const launcher = join(import.meta.dirname, '..', '..', 'bin', 'outpost.js');
const dir = mkdtempSync(join(tmpdir(), 'outpost-quickstart-'));
const outpost = (args: string[]) => spawnSync(process.execPath, [launcher, ...args], { encoding: 'utf8', timeout: 600_000 });

afterAll(() => {
  outpost(['quickstart', '--kubeconfig', kubeconfigPath(), '--dir', dir, '--down']);
});

describe('outpost quickstart', () => {
  it('brings up cloud, edge node, device and app, and tears them down', async () => {
    const up = outpost(['quickstart', '--kubeconfig', kubeconfigPath(), '--dir', dir]);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toContain('Outpost quickstart is up');
    const kc = kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const node = await core.readNode({ name: 'edge-1' });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.metadata?.labels?.['node-role.kubernetes.io/edge']).toBe('');

    const device = () => kubectl(['get', 'device', 'demo-thermometer-1', '-n', 'default', '-o', 'json']).then((r) => JSON.parse(r.stdout) as {
      status?: { twins?: { propertyName: string; reported?: { value: string } }[]; state?: string };
    });
    await expect.poll(async () => (await device()).status?.twins?.find((t) => t.propertyName === 'temperature')?.reported?.value, { timeout: 30_000 }).toMatch(/^\d+(\.\d+)?$/);
    await kubectl(['patch', 'device', 'demo-thermometer-1', '-n', 'default', '--type=json', '-p', '[{"op":"replace","path":"/spec/properties/1/desired/value","value":"25"}]']);
    await expect.poll(async () => (await device()).status?.twins?.find((t) => t.propertyName === 'setpoint')?.reported?.value, { timeout: 30_000 }).toBe('25');

    await expect.poll(async () => (await kubectl(['logs', '-n', 'default', 'deploy/hello-edge', '--tail', '5'])).stdout, { timeout: 30_000 }).toContain('hello from the edge');
    const exec = await kubectl(['exec', '-n', 'default', 'deploy/hello-edge', '--', 'sh', '-c', 'echo exec-ok; exit 3']);
    expect(exec.stdout).toContain('exec-ok');
    expect(exec.code).toBe(3);

    const downRun = outpost(['quickstart', '--kubeconfig', kubeconfigPath(), '--dir', dir, '--down']);
    expect(downRun.status, downRun.stderr).toBe(0);
    await expect.poll(async () => (await core.readNode({ name: 'edge-1' }).then(() => 'present', () => 'gone')), { timeout: 30_000 }).toBe('gone');
    expect((await kubectl(['get', 'validatingwebhookconfiguration', 'outpost-validating'])).code).not.toBe(0);
  });
});
