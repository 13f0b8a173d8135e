/**
 * Container environment and field values, resolved from the pod and the
 * ConfigMaps/Secrets in the edge store, as the kubelet does it
 * (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables,
 * podFieldSelectorRuntimeValue, third_party/forked/golang/expansion). Pure:
 * lookups are passed in. A missing non-optional reference throws
 * POD_CONFIG_INVALID, which the manager shows as CreateContainerConfigError
 * and retries when the store changes.
 */
import { PodError } from './errors.js';
                                                                                                                

                          
                                                                    
                                                              
 

/** Facts about where the pod runs that fieldRefs and resourceFieldRefs read. */
                                  
                 
                
                                                                             
                                                                             
 

const suffixes                         = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Parses a resource.Quantity ("500m", "128Mi", "1.5", "1e3"); NaN when malformed. */
export function parseQuantity(q                             )         {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return Number.NaN;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(q.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * suffixes[m[2] ?? ''] ;
}

/**
 * Expands `$(VAR)` references with `lookup`; `$$` is a literal `$`; an
 * undefined variable or a malformed reference stays as written (the
 * Kubernetes expansion rules).
 */
export function expand(input        , lookup                                      )         {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i] ;
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1] ;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const v = lookup(name);
      out += v === undefined ? `$(${name})` : v;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

const b64 = (s        ) => Buffer.from(s, 'base64').toString('utf8');

function configError(message        )           {
  return new PodError('POD_CONFIG_INVALID', message);
}

/** The value of a downward-API fieldRef, or throws POD_CONFIG_INVALID for an unsupported path. */
export function fieldValue(pod     , sel                     , facts                 , forVolume = false)         {
  const m = pod.metadata;
  const path = sel.fieldPath;
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (sub) return (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2] ] ?? '';
  switch (path) {
    case 'metadata.name':
      return m.name;
    case 'metadata.namespace':
      return m.namespace ?? '';
    case 'metadata.uid':
      return m.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIP;
  }
  if (forVolume && (path === 'metadata.labels' || path === 'metadata.annotations')) {
    const map = (path === 'metadata.labels' ? m.labels : m.annotations) ?? {};
    // the kubelet's format: sorted key="value" lines, values %q-quoted
    return Object.keys(map).sort().map((k) => `${k}=${JSON.stringify(map[k])}`).join('\n');
  }
  throw configError(`fieldRef ${JSON.stringify(path)} is not supported; use metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.hostIP or status.podIP`);
}

/** The value of a resourceFieldRef for `container` (limits default to node allocatable). */
export function resourceValue(pod     , containerName        , sel                       , facts                 )         {
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const c = all.find((x) => x.name === (sel.containerName || containerName));
  if (!c) throw configError(`resourceFieldRef: container ${JSON.stringify(sel.containerName || containerName)} is not in the pod`);
  const [kind, res] = sel.resource.split('.', 2)                    ;
  if (!['limits', 'requests'].includes(kind) || !['cpu', 'memory', 'ephemeral-storage'].includes(res ?? '')) {
    throw configError(`resourceFieldRef ${JSON.stringify(sel.resource)} is not supported; use limits|requests . cpu|memory|ephemeral-storage`);
  }
  const own = (kind === 'limits' ? c.resources?.limits : c.resources?.requests)?.[res];
  const alloc = facts.allocatable[res         ];
  const value = parseQuantity(own ?? (kind === 'limits' ? alloc : res === 'cpu' ? '0' : '0'));
  const divisor = sel.divisor === undefined || sel.divisor === '0' || sel.divisor === 0 ? 1 : parseQuantity(sel.divisor);
  if (!Number.isFinite(value) || !Number.isFinite(divisor) || divisor <= 0) throw configError(`resourceFieldRef ${sel.resource}: cannot parse the quantity or divisor`);
  // the kubelet rounds up (ExtractContainerResourceValue / convertResourceCPUToString)
  return String(Math.ceil(value / divisor - 1e-9));
}

/**
 * The container's environment in order (envFrom first, then env, later
 * names replacing earlier ones in place), with `$(VAR)` references expanded.
 * Throws POD_CONFIG_INVALID (CreateContainerConfigError) for a missing
 * non-optional ConfigMap, Secret or key.
 */
export function containerEnv(pod     , c           , lookups         , facts                 )                                    {
  const ns = pod.metadata.namespace ?? 'default';
  const env = new Map                ();
  for (const src of c.envFrom ?? []) {
    const prefix = src.prefix ?? '';
    if (src.configMapRef) {
      const cm = lookups.configMap(ns, src.configMapRef.name);
      if (!cm) {
        if (src.configMapRef.optional) continue;
        throw configError(`configmap "${src.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) if (!k.includes('=')) env.set(prefix + k, v);
    } else if (src.secretRef) {
      const s = lookups.secret(ns, src.secretRef.name);
      if (!s) {
        if (src.secretRef.optional) continue;
        throw configError(`secret "${src.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(s.data ?? {})) if (!k.includes('=')) env.set(prefix + k, b64(v));
    }
  }
  for (const e of c.env ?? []) {
    let value                    ;
    const from = e.valueFrom;
    if (from?.configMapKeyRef) {
      const r = from.configMapKeyRef;
      const cm = lookups.configMap(ns, r.name ?? '');
      if (!cm) {
        if (r.optional) continue;
        throw configError(`configmap "${r.name}" not found`);
      }
      value = cm.data?.[r.key] ?? (cm.binaryData?.[r.key] !== undefined ? b64(cm.binaryData[r.key] ) : undefined);
      if (value === undefined) {
        if (r.optional) continue;
        throw configError(`couldn't find key ${r.key} in ConfigMap ${ns}/${r.name}`);
      }
    } else if (from?.secretKeyRef) {
      const r = from.secretKeyRef;
      const s = lookups.secret(ns, r.name ?? '');
      if (!s) {
        if (r.optional) continue;
        throw configError(`secret "${r.name}" not found`);
      }
      const raw = s.data?.[r.key];
      if (raw === undefined) {
        if (r.optional) continue;
        throw configError(`couldn't find key ${r.key} in Secret ${ns}/${r.name}`);
      }
      value = b64(raw);
    } else if (from?.fieldRef) {
      value = fieldValue(pod, from.fieldRef, facts);
    } else if (from?.resourceFieldRef) {
      value = resourceValue(pod, c.name, from.resourceFieldRef, facts);
    } else {
      value = expand(e.value ?? '', (n) => env.get(n));
    }
    env.set(e.name, value);
  }
  return [...env].map(([name, value]) => ({ name, value }));
}

/** `command` and `args` with `$(VAR)` expanded against the container's environment. */
export function expandCommand(c           , env                                   )                                        {
  const m = new Map(env.map((e) => [e.name, e.value]));
  const x = (s        ) => expand(s, (n) => m.get(n));
  return { command: (c.command ?? []).map(x), args: (c.args ?? []).map(x) };
}
