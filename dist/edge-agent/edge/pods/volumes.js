/**
 * Pod volumes on the edge, materialised under `<podDir>/volumes/<name>` from
 * the edge store (so they work offline and after a reboot):
 *
 * | type | what the container sees |
 * |---|---|
 * | configMap, secret, downwardAPI, projected | files written atomically (below), updated when the store changes |
 * | emptyDir | an empty directory that lives as long as the pod (medium Memory is a plain directory too) |
 * | hostPath | the host path itself, after the `type` check (DirectoryOrCreate / FileOrCreate create it) |
 *
 * Projected `serviceAccountToken` sources get a placeholder file: the edge
 * cannot mint tokens yet (the TokenRequest API is not carried by the hub), so
 * in-cluster clients in edge pods cannot authenticate. The
 * `kube-root-ca.crt` ConfigMap and namespace file of the default
 * `kube-api-access-*` volume are real.
 *
 * Atomic writes follow the kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go):
 * the files go to a new hidden directory `..<hash>`, the `..data` symlink is
 * switched to it with a rename, and each top-level name is a symlink through
 * `..data`, so a reader never sees half an update. The directory name is the
 * content hash, which makes an unchanged update a no-op.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { PodError } from './errors.js';
import { fieldValue, resourceValue,                                    } from './env.js';
                                          
                                                                                           

/** Contents of the placeholder service account token (see the module comment). */
export const stubToken = 'outpost-edge-placeholder-token: service account tokens are not issued at the edge yet\n';

                            
               
               
 

/** What one volume is, before it is written. */
                            
                                                    
                        
                                                         

function volumeError(volume        , message        , reason = 'CreateContainerConfigError')           {
  return new PodError('POD_VOLUME_FAILED', `volume "${volume}": ${message}`, { reason });
}

/** A relative path inside a volume: no absolute paths, no `..` (the API server validates this too). */
function checkPath(volume        , p        )         {
  const n = normalize(p);
  if (p === '' || n.startsWith('/') || n === '..' || n.startsWith('../') || n.split('/').includes('..')) throw volumeError(volume, `path ${JSON.stringify(p)} must be relative and must not contain ".."`);
  return n;
}

function keyed(volume        , kind                        , name        , data                     , items                         , mode        , optional         , out                        )       {
  if (!items?.length) {
    for (const [k, v] of data) out.set(checkPath(volume, k), { data: v, mode });
    return;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw volumeError(volume, `${kind.toLowerCase()} ${JSON.stringify(name)} has no key ${JSON.stringify(it.key)}`);
    }
    out.set(checkPath(volume, it.path), { data: v, mode: it.mode ?? mode });
  }
}

function downward(volume        , pod     , items                         , mode        , facts                 , out                        )       {
  for (const it of items) {
    let v        ;
    if (it.fieldRef) v = fieldValue(pod, it.fieldRef, facts, true);
    else if (it.resourceFieldRef) v = resourceValue(pod, it.resourceFieldRef.containerName ?? pod.spec.containers[0]?.name ?? '', it.resourceFieldRef, facts);
    else continue;
    out.set(checkPath(volume, it.path), { data: Buffer.from(v), mode: it.mode ?? mode });
  }
}

const cmData = (cm                                                                        ) => new Map                ([
  ...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v)]                    ),
  ...Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]                    ),
]);
const secretData = (s                                   ) => new Map(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]                    ));

/**
 * Pure: what `volume` of `pod` contains, from the store's ConfigMaps and
 * Secrets. Throws POD_VOLUME_FAILED for a missing non-optional source or an
 * unsupported volume type (the container waits with CreateContainerConfigError).
 */
export function renderVolume(pod     , volume        , lookups         , facts                 )                 {
  const ns = pod.metadata.namespace ?? 'default';
  const files = new Map                   ();
  if (volume.configMap) {
    const v = volume.configMap;
    const cm = lookups.configMap(ns, v.name);
    if (!cm && !v.optional) throw volumeError(volume.name, `configmap "${v.name}" not found`);
    keyed(volume.name, 'ConfigMap', v.name, cm ? cmData(cm) : new Map(), v.items, v.defaultMode ?? 0o644, !!v.optional, files);
    return { type: 'files', files };
  }
  if (volume.secret) {
    const v = volume.secret;
    const s = lookups.secret(ns, v.secretName);
    if (!s && !v.optional) throw volumeError(volume.name, `secret "${v.secretName}" not found`);
    keyed(volume.name, 'Secret', v.secretName, s ? secretData(s) : new Map(), v.items, v.defaultMode ?? 0o644, !!v.optional, files);
    return { type: 'files', files };
  }
  if (volume.downwardAPI) {
    downward(volume.name, pod, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode ?? 0o644, facts, files);
    return { type: 'files', files };
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    for (const src of volume.projected.sources ?? []) {
      if (src.configMap) {
        const cm = lookups.configMap(ns, src.configMap.name);
        if (!cm && !src.configMap.optional) throw volumeError(volume.name, `configmap "${src.configMap.name}" not found`);
        keyed(volume.name, 'ConfigMap', src.configMap.name, cm ? cmData(cm) : new Map(), src.configMap.items, mode, !!src.configMap.optional, files);
      } else if (src.secret) {
        const s = lookups.secret(ns, src.secret.name);
        if (!s && !src.secret.optional) throw volumeError(volume.name, `secret "${src.secret.name}" not found`);
        keyed(volume.name, 'Secret', src.secret.name, s ? secretData(s) : new Map(), src.secret.items, mode, !!src.secret.optional, files);
      } else if (src.downwardAPI) {
        downward(volume.name, pod, src.downwardAPI.items ?? [], mode, facts, files);
      } else if (src.serviceAccountToken) {
        files.set(checkPath(volume.name, src.serviceAccountToken.path), { data: Buffer.from(stubToken), mode });
      } else if (src.clusterTrustBundle) {
        throw volumeError(volume.name, 'clusterTrustBundle projections are not supported at the edge');
      }
    }
    return { type: 'files', files };
  }
  if (volume.emptyDir) return { type: 'emptyDir' };
  if (volume.hostPath) return { type: 'hostPath', path: volume.hostPath.path, hostType: volume.hostPath.type ?? '' };
  const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw volumeError(volume.name, `volume type ${kind} is not supported at the edge (use configMap, secret, emptyDir, hostPath, downwardAPI or projected)`);
}

/** Content hash of a file set (names, modes, bytes), order-independent. */
function hashFiles(files                        )         {
  const h = createHash('sha256');
  for (const k of [...files.keys()].sort()) {
    const f = files.get(k) ;
    h.update(`${k}\0${f.mode}\0${f.data.length}\0`).update(f.data);
  }
  return h.digest('hex').slice(0, 20);
}

/**
 * Writes `files` into `dir` atomically (see the module comment). Idempotent:
 * returns false when `dir` already holds exactly these files.
 */
export function writeAtomic(dir        , files                        )          {
  mkdirSync(dir, { recursive: true });
  const name = `..${hashFiles(files)}`;
  const dataLink = join(dir, '..data');
  let old                    ;
  try {
    old = readlinkSync(dataLink);
  } catch {
    old = undefined;
  }
  if (old === name && existsSync(join(dir, name))) return false;
  const target = join(dir, name);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const [p, f] of files) {
    const full = join(target, p);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, f.data, { mode: f.mode });
    chmodSync(full, f.mode); // writeFileSync's mode is filtered by the umask
  }
  chmodSync(target, 0o755);
  const tmp = join(dir, '..data_tmp');
  rmSync(tmp, { force: true });
  symlinkSync(name, tmp);
  renameSync(tmp, dataLink);
  const top = new Set([...files.keys()].map((p) => p.split('/')[0] ));
  for (const t of top) {
    const link = join(dir, t);
    try {
      if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === join('..data', t)) continue;
      rmSync(link, { recursive: true, force: true });
    } catch {
      /* absent */
    }
    symlinkSync(join('..data', t), link);
  }
  for (const entry of readdirSync(dir)) {
    if (entry === '..data' || entry === name) continue;
    if (entry.startsWith('..') || !top.has(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  return true;
}

/** Directory of volume `name` of the pod in `podDir`. */
export function volumeDir(podDir        , name        )         {
  return join(podDir, 'volumes', name);
}

function checkHostPath(volume        , path        , type        )       {
  const st = (() => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  })();
  const fail = (what        ) => {
    throw volumeError(volume, `hostPath type check failed: ${path} is not ${what}`);
  };
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) mkdirSync(path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) fail('a directory');
      return;
    case 'Directory':
      if (!st?.isDirectory()) fail('a directory');
      return;
    case 'FileOrCreate':
      if (!st) {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, '', { mode: 0o644 });
      } else if (!st.isFile()) fail('a file');
      return;
    case 'File':
      if (!st?.isFile()) fail('a file');
      return;
    case 'Socket':
      if (!st?.isSocket()) fail('a socket');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) fail('a character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) fail('a block device');
      return;
    default:
      throw volumeError(volume, `hostPath type ${JSON.stringify(type)} is not known`);
  }
}

/**
 * Materialises every volume of `pod` under `podDir` and returns each
 * volume's host path. Idempotent; files are rewritten only when their
 * content changed. Throws POD_VOLUME_FAILED naming the first volume that
 * could not be prepared.
 */
export function prepareVolumes(pod     , podDir        , lookups         , facts                 )                      {
  const out = new Map                ();
  for (const v of pod.spec.volumes ?? []) {
    const r = renderVolume(pod, v, lookups, facts);
    const dir = volumeDir(podDir, v.name);
    if (r.type === 'files') {
      try {
        writeAtomic(dir, r.files);
      } catch (err) {
        throw volumeError(v.name, `cannot write ${dir}: ${(err         ).message}`);
      }
      out.set(v.name, dir);
    } else if (r.type === 'emptyDir') {
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      chmodSync(dir, 0o777);
      out.set(v.name, dir);
    } else {
      checkHostPath(v.name, r.path, r.hostType);
      out.set(v.name, r.path);
    }
  }
  return out;
}

/** The container's mounts: each volumeMount resolved to a host path (subPath appended, kept inside the volume). */
export function containerMounts(c           , volumes                     )          {
  return (c.volumeMounts ?? []).map((m) => {
    const base = volumes.get(m.name);
    if (base === undefined) throw volumeError(m.name, `container ${c.name} mounts volume ${JSON.stringify(m.name)}, which the pod does not define`);
    let hostPath = base;
    if (m.subPath) {
      hostPath = resolve(base, checkPath(m.name, m.subPath));
      if (!existsSync(hostPath)) mkdirSync(hostPath, { recursive: true });
    }
    return { containerPath: m.mountPath, hostPath, readOnly: !!m.readOnly };
  });
}
