/**
 * PKI for the local test control plane, made with the system's `openssl`
 * (argv only, never a shell): one CA, the API server's serving certificate,
 * an admin client certificate in group system:masters, the API server's
 * client certificate for talking to kubelets, the service-account key pair, and
 * the aggregation layer's front-proxy CA with the API server's proxy client
 * certificate (--requestheader-client-ca-file / --proxy-client-cert-file: what
 * an aggregated API server such as metrics-server trusts for the requests the
 * API server proxies to it; a CA of its own, as kubeadm does, so no ordinary
 * client certificate can assert X-Remote-User).
 * Idempotent: files that exist are kept.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterError } from './errors.ts';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  saKey: string;
  saPub: string;
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ClusterError('CLUSTER_OPENSSL_MISSING', 'openssl is not installed; install it (apt-get install openssl) and retry', { cause: err });
    }
    throw new ClusterError('CLUSTER_PKI_FAILED', `openssl ${args[0]} failed: ${stderr}`, { cause: err });
  }
}

/** Creates a self-signed CA `name`.crt/.key unless it exists. */
function ca(dir: string, name: string, cn: string): void {
  if (existsSync(join(dir, `${name}.crt`))) return;
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

/** Signs a leaf certificate with the CA `caName` unless `name`.crt already exists. */
function leaf(dir: string, name: string, subject: string, ext: string, caName = 'ca'): void {
  if (existsSync(join(dir, `${name}.crt`))) return;
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '365', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
}

/** Creates (or reuses) the PKI under `dir`. */
export function ensurePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  ca(dir, 'ca', 'outpost-local-ca');
  leaf(dir, 'apiserver', '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' +
    'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  leaf(dir, 'admin', '/O=system:masters/CN=outpost-admin', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  leaf(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  if (!existsSync(join(dir, 'sa.key'))) {
    openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
    openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  }
  ca(dir, 'front-proxy-ca', 'outpost-front-proxy-ca');
  leaf(dir, 'front-proxy-client', '/CN=front-proxy-client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n', 'front-proxy-ca');
  return {
    dir,
    caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'),
    apiserverCert: join(dir, 'apiserver.crt'), apiserverKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'), adminKey: join(dir, 'admin.key'),
    kubeletClientCert: join(dir, 'apiserver-kubelet-client.crt'), kubeletClientKey: join(dir, 'apiserver-kubelet-client.key'),
    saKey: join(dir, 'sa.key'), saPub: join(dir, 'sa.pub'),
    frontProxyCaCert: join(dir, 'front-proxy-ca.crt'), frontProxyClientCert: join(dir, 'front-proxy-client.crt'), frontProxyClientKey: join(dir, 'front-proxy-client.key'),
  };
}
