import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Command } from '../command.ts';
import { applyAll, readManifests, waitEstablished } from '../apply-manifests.ts';
import { down, up } from '../../hack/local-cluster/control-plane.ts';

const root = join(import.meta.dirname, '..', '..');

/**
 * `outpost quickstart`: the README's main job. Today it brings up the local
 * control plane and installs Outpost's CRDs and samples; the cloud side, an
 * edge node, a simulated device and a demo app join it as their issues land.
 */
export const quickstart: Command = {
  name: 'quickstart',
  summary: 'bring up a local control plane with Outpost installed (--down removes it)',
  usage: 'outpost quickstart [--down]',
  options: { down: { type: 'boolean' } },
  optionHelp: { down: 'stop and remove everything quickstart started' },
  async run(values) {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    if (values.down) {
      await down();
      say('quickstart: local control plane stopped and removed');
      return 0;
    }
    say('quickstart: [1/3] local control plane (the first run builds Kubernetes from source: 10-25 min on 2 cores)');
    const state = await up({ progress: (l) => say(`  ${l}`) });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    say('quickstart: [2/3] installing CRDs');
    const crds = readManifests(join(root, 'config', 'crd', 'bases'));
    await applyAll(kc, crds);
    await waitEstablished(kc, crds.map((c) => c.metadata!.name!));
    say('quickstart: [3/3] applying samples (config/samples)');
    await applyAll(kc, readManifests(join(root, 'config', 'samples')), 'default');
    process.stdout.write([
      '',
      'Outpost quickstart is up.',
      `  export KUBECONFIG=${state.kubeconfig}`,
      '  kubectl get crds | grep kubeedge',
      '  kubectl get devicemodels,devices,nodegroups,edgeapplications -A',
      '  kubectl explain devices.spec.properties --api-version=devices.kubeedge.io/v1beta1',
      'Remove it with: npm run quickstart -- --down',
      '',
    ].join('\n'));
    return 0;
  },
};
