/**
 * What this host is, as a core/v1 Node reports it: capacity/allocatable,
 * addresses, nodeInfo and the well-known labels. `readHostFacts` does the
 * I/O (os, /proc, /etc, statfs) once; `nodeRegistration` and
 * `nodeConditions` are pure.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { arch as osArch, availableParallelism, hostname, networkInterfaces, release, totalmem } from 'node:os';

/** The kubelet version this agent reports (Kubernetes API level it tracks, tagged as Outpost). */
export const kubeletVersion = 'v1.36.3-outpost';
/** The port written to status.daemonEndpoints.kubeletEndpoint (KubeEdge's edged port); the cloud side serves it for kubectl logs/exec. */
export const defaultKubeletPort = 10350;
export const edgeRoleLabel = 'node-role.kubernetes.io/edge';

                            
              
                      
                                                                                
                       
                     
                   
                        
                  
                       
                    
                     
                 
 

function read(path        )                     {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The first non-internal IPv4 address (IPv6 if there is none), or 127.0.0.1. */
export function defaultNodeIP()         {
  const all = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal);
  return all.find((a) => a .family === 'IPv4')?.address ?? all.find((a) => a .family === 'IPv6')?.address ?? '127.0.0.1';
}

/** Kubernetes' name for the CPU architecture (GOARCH). */
export function goArch(a         = osArch())         {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }                          )[a] ?? a;
}

/** Reads the host facts (no network). */
export function readHostFacts(opts                                      )            {
  let storageBytes = 0;
  try {
    const s = statfsSync(opts.dataDir);
    storageBytes = s.blocks * s.bsize;
  } catch {
    storageBytes = 0;
  }
  const osRelease = read('/etc/os-release') ?? '';
  const machineID = read('/etc/machine-id') ?? read('/var/lib/dbus/machine-id') ?? '';
  return {
    cpu: availableParallelism(),
    memoryBytes: totalmem(),
    storageBytes,
    internalIP: opts.nodeIP ?? defaultNodeIP(),
    hostname: hostname(),
    kernelVersion: release(),
    osImage: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux',
    architecture: goArch(),
    machineID,
    systemUUID: read('/sys/class/dmi/id/product_uuid') ?? machineID,
    bootID: read('/proc/sys/kernel/random/boot_id') ?? '',
  };
}

                                    
                   
                   
                                                                                          
                                  
                  
                      
                                  
 

const ki = (bytes        ) => `${Math.floor(bytes / 1024)}Ki`;

/** capacity and allocatable (allocatable = capacity: nothing is reserved for system daemons yet). */
export function nodeResources(i                   )                                                                            {
  const capacity                         = {
    cpu: String(i.facts.cpu), memory: ki(i.facts.memoryBytes), pods: String(i.maxPods),
    ...(i.facts.storageBytes ? { 'ephemeral-storage': ki(i.facts.storageBytes) } : {}),
    'hugepages-1Gi': '0', 'hugepages-2Mi': '0',
  };
  return { capacity, allocatable: { ...capacity } };
}

/** The labels an edge node carries (the kubelet's well-known ones plus the edge role). */
export function nodeLabels(i                   )                         {
  return {
    'kubernetes.io/hostname': i.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': i.facts.architecture,
    'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': i.facts.architecture,
    ...i.labels, [edgeRoleLabel]: '',
  };
}

/** status.nodeInfo. */
export function nodeInfo(i                   )                         {
  const f = i.facts;
  return {
    machineID: f.machineID, systemUUID: f.systemUUID, bootID: f.bootID, kernelVersion: f.kernelVersion, osImage: f.osImage,
    containerRuntimeVersion: i.containerRuntimeVersion, kubeletVersion, kubeProxyVersion: '', operatingSystem: 'linux', architecture: f.architecture,
  };
}

                           
                  
                
               
 

                                
               
                                       
                            
                             
                 
                  
 

/**
 * The node conditions the kubelet posts (setters.go): Ready plus the three
 * pressure conditions. `since` holds each condition's last transition time
 * and is updated in place when a status changes.
 */
export function nodeConditions(now        , pressure          , since                                             )                  {
  const c = (type        , ok         , reasonTrue        , reasonFalse        , msgTrue        , msgFalse        )                => {
    const status = ok ? 'True' : 'False';
    const prev = since.get(type);
    if (!prev || prev.status !== status) since.set(type, { status, at: now });
    return { type, status, lastHeartbeatTime: now, lastTransitionTime: since.get(type) .at, reason: ok ? reasonTrue : reasonFalse, message: ok ? msgTrue : msgFalse };
  };
  return [
    c('MemoryPressure', pressure.memory, 'KubeletHasInsufficientMemory', 'KubeletHasSufficientMemory', 'node has memory pressure', 'node has sufficient memory available'),
    c('DiskPressure', pressure.disk, 'KubeletHasDiskPressure', 'KubeletHasNoDiskPressure', 'node has disk pressure', 'node has no disk pressure'),
    c('PIDPressure', pressure.pid, 'KubeletHasInsufficientPID', 'KubeletHasSufficientPID', 'node has insufficient PID available', 'node has sufficient PID available'),
    c('Ready', true, 'KubeletReady', 'KubeletNotReady', 'outpost edge agent is posting ready status', 'outpost edge agent is not ready'),
  ];
}

/**
 * Pressure as the kubelet's default hard eviction thresholds define it:
 * memory.available < 100Mi, nodefs.available < 10%, pid.available < 5%.
 */
export function readPressure(dataDir        )           {
  const meminfo = read('/proc/meminfo') ?? '';
  const avail = Number(/^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? Number.NaN) * 1024;
  let disk = false;
  try {
    const s = statfsSync(dataDir);
    disk = s.blocks > 0 && s.bavail / s.blocks < 0.1;
  } catch {
    disk = false;
  }
  const pidMax = Number(read('/proc/sys/kernel/pid_max') ?? Number.NaN);
  const threads = Number(/^(?:\S+\s+){3}\d+\/(\d+)/.exec(read('/proc/loadavg') ?? '')?.[1] ?? Number.NaN);
  return { memory: Number.isFinite(avail) && avail < 100 * 1024 * 1024, disk, pid: Number.isFinite(pidMax) && Number.isFinite(threads) && threads > pidMax * 0.95 };
}
