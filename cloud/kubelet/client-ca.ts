import type { KubeClient } from '../../controllers/runtime/index.ts';
import { KubeletError } from './errors.ts';

/**
 * The CA the API server trusts for client certificates (its --client-ca-file),
 * published in kube-system/extension-apiserver-authentication. The API
 * server's --kubelet-client-certificate is normally signed by it (kubeadm,
 * the local control plane), so the kubelet endpoint needs no extra
 * certificate from the user; pass --kubelet-client-ca-file when it is not.
 */
export async function discoverKubeletClientCa(client: KubeClient): Promise<string> {
  const cm = await client.get<{ data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system', name: 'extension-apiserver-authentication' }).catch((err: unknown) => {
    throw new KubeletError('KUBELET_INVALID_CONFIG', `cannot read kube-system/extension-apiserver-authentication to find the API server's client CA (${(err as Error).message}); pass --kubelet-client-ca-file`);
  });
  const ca = cm?.data?.['client-ca-file'];
  if (!ca) throw new KubeletError('KUBELET_INVALID_CONFIG', 'kube-system/extension-apiserver-authentication has no client-ca-file; pass --kubelet-client-ca-file (the CA that signed the API server\'s --kubelet-client-certificate)');
  return ca;
}
