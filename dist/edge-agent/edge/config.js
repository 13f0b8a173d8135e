/**
 * Edge agent configuration: built from flags (and later a config file),
 * validated once at start with messages that say what is wrong and how to
 * fix it, then frozen. Certificates are read here so a bad path fails fast.
 */
import { readFileSync } from 'node:fs';
                                                        
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { OutpostError } from '../lib/errors.js';
import { buildDevicesConfig,                    } from './devices/config.js';
import { DeviceError } from './devices/errors.js';
import { join } from 'node:path';
import { IdentityError } from './identity/errors.js';
import { readRootConfig, readRootCredentials, rootFiles } from './identity/root.js';

export class EdgeConfigError extends OutpostError                        {}

                             
                   
                  
                                                                                                     
                                                 
                                                                                                      
                                                                                                                              
                                                                                                                   
                                                                                       
                                                           
                                                                                                             
                                                                                                                          
                          
 

export const defaultCriEndpoint = 'unix:///run/containerd/containerd.sock';

                                  
                    
                   
               
                    
                       
                      
                  
                    
                   
                                                                                                             
                
                                      
                   
                       
                  
                                                                                                                                   
                   
                
                    
                    
                   
 

const dns1123 = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function bad(field        , message        )        {
  throw new EdgeConfigError('EDGE_CONFIG_INVALID', `${field}: ${message}`);
}

function readPem(field        , path                    )         {
  if (!path) bad(field, 'is required');
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    bad(field, `cannot read ${path}: ${(err                         ).code ?? (err         ).message}`);
  }
}

/** `--root DIR`: config.yaml and pki/ from the directory `outpost join` wrote; flags may override hub protocol, server name and data dir. */
function buildFromRoot(i                                    )             {
  for (const [flag, v] of [['--hub', i.hub], ['--ca-file', i.caFile], ['--cert-file', i.certFile], ['--key-file', i.keyFile], ['--quic-port', i.quicPort]]         ) {
    if (v !== undefined) bad(flag, `cannot be combined with --root (it comes from ${join(i.root, rootFiles.config)}; edit that, or run outpost join again)`);
  }
  let rc;
  let creds;
  try {
    rc = readRootConfig(i.root);
    if (!rc) bad('--root', `${i.root} is not joined (no ${rootFiles.config}); run "outpost join --root ${i.root} --cloud <address> --token <token>" first`);
    creds = readRootCredentials(i.root);
  } catch (err) {
    if (err instanceof IdentityError) bad('--root', err.message);
    throw err;
  }
  if (i.nodeName !== undefined && i.nodeName !== rc.nodeName) bad('--node-name', `"${i.nodeName}" differs from "${rc.nodeName}" in ${join(i.root, rootFiles.config)}; drop --node-name`);
  const protocol = (i.hubProtocol ?? rc.cloud.protocol)               ;
  if (!['auto', 'quic', 'websocket'].includes(protocol)) bad('--hub-protocol', `must be auto, quic or websocket, got "${protocol}"`);
  const serverName = i.serverName ?? rc.cloud.serverName;
  const cn = /^CN=(.*)$/m.exec(new X509Certificate(creds.cert).subject)?.[1];
  if (cn !== `system:node:${rc.nodeName}`) bad('--root', `the certificate in ${join(i.root, rootFiles.node)} is for "${cn}", not "system:node:${rc.nodeName}"; run outpost join --force-reenroll`);
  return Object.freeze({
    nodeName: rc.nodeName,
    dataDir: i.dataDir ?? join(i.root, rootFiles.dataDir),
    hub: Object.freeze({ host: rc.cloud.address, port: rc.cloud.hubPort, protocol, ...(rc.cloud.quicPort ? { quicPort: rc.cloud.quicPort } : {}), ...(serverName ? { serverName } : {}) }),
    tls: Object.freeze({ ca: creds.ca, cert: creds.cert, key: creds.key }),
    identity: Object.freeze({
      root: i.root, caPin: rc.cloud.caPin, rotate: rc.certificates.rotate,
      bootstrap: Object.freeze({ host: rc.cloud.address, port: rc.cloud.bootstrapPort, ...(serverName ? { serverName } : {}) }),
    }),
    // config.yaml's runtime.endpoint / broker.url (what `outpost doctor` checks) unless a flag overrides them
    ...workloadConfig({ ...i, ...(i.runtime === undefined && rc.runtime ? { runtime: 'cri' } : {}), ...(i.criEndpoint ?? rc.runtime?.endpoint ? { criEndpoint: i.criEndpoint ?? rc.runtime?.endpoint } : {}) }),
    ...deviceConfig({ ...i, ...(i.mqtt ?? rc.broker?.url ? { mqtt: i.mqtt ?? rc.broker?.url } : {}) }),
  });
}

/** `--runtime`, `--cri-endpoint`, `--node-ip`: the node and pod parts of the config (always on from the CLI). */
function workloadConfig(i                 )                                    {
  const runtime = (i.runtime ?? 'process')                     ;
  if (runtime !== 'process' && runtime !== 'cri') bad('--runtime', `must be process (containers as host processes) or cri (containerd), got "${runtime}"`);
  const criEndpoint = i.criEndpoint ?? defaultCriEndpoint;
  if (!/^(unix:\/\/)?\/\S+$/.test(criEndpoint)) bad('--cri-endpoint', `"${criEndpoint}" must be a unix socket, e.g. ${defaultCriEndpoint}`);
  if (i.nodeIP !== undefined && isIP(i.nodeIP) === 0) bad('--node-ip', `"${i.nodeIP}" is not an IP address`);
  return { node: Object.freeze({ ...(i.nodeIP ? { ip: i.nodeIP } : {}) }), pods: Object.freeze({ runtime, criEndpoint }) };
}

/** `--devices`, `--mqtt`, `--mqtt-host`, `--mqtt-port`, `--mappers`. */
function deviceConfig(i                 )                              {
  try {
    return { devices: buildDevicesConfig({ devices: i.devices, mqtt: i.mqtt, mqttHost: i.mqttHost, mqttPort: i.mqttPort, mappers: i.mappers }) };
  } catch (err) {
    if (err instanceof DeviceError) throw new EdgeConfigError('EDGE_CONFIG_INVALID', err.message);
    throw err;
  }
}

/** Validates the input and returns a frozen config. Throws EDGE_CONFIG_INVALID naming the field. */
export function buildEdgeConfig(i                 )             {
  if (i.root !== undefined) return buildFromRoot({ ...i, root: i.root });
  const nodeName = i.nodeName ?? '';
  if (!dns1123.test(nodeName)) bad('--node-name', `"${nodeName}" is not a valid node name (lower-case letters, digits, "-" and ".")`);
  if (!i.dataDir) bad('--data-dir', 'is required (where the local store lives, e.g. /var/lib/outpost)');
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(i.hub ?? '');
  if (!m) bad('--hub', `"${i.hub ?? ''}" must be host:port of the cloud hub, e.g. 10.0.0.5:10000`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) bad('--hub', `port ${port} is out of range 1-65535`);
  const protocol = (i.hubProtocol ?? 'auto')               ;
  if (!['auto', 'quic', 'websocket'].includes(protocol)) bad('--hub-protocol', `must be auto, quic or websocket, got "${protocol}"`);
  const quicPort = i.quicPort === undefined ? undefined : Number(i.quicPort);
  if (quicPort !== undefined && !(Number.isInteger(quicPort) && quicPort > 0 && quicPort < 65536)) bad('--quic-port', `must be a port number, got "${i.quicPort}"`);
  const tls = { ca: readPem('--ca-file', i.caFile), cert: readPem('--cert-file', i.certFile), key: readPem('--key-file', i.keyFile) };
  let cn                    ;
  try {
    // node:crypto, not lib/pki: keeps @peculiar/x509 out of the agent's memory
    cn = /^CN=(.*)$/m.exec(new X509Certificate(tls.cert).subject)?.[1];
  } catch (err) {
    bad('--cert-file', `is not a PEM certificate (${(err         ).message})`);
  }
  if (cn !== `system:node:${nodeName}`) bad('--cert-file', `certificate CN is "${cn}", expected "system:node:${nodeName}" (the hub derives the node identity from it)`);
  const host = m[1] .replace(/^\[|\]$/g, '');
  return Object.freeze({
    nodeName, dataDir: i.dataDir,
    hub: Object.freeze({ host, port, protocol, ...(quicPort ? { quicPort } : {}), ...(i.serverName ? { serverName: i.serverName } : {}) }),
    tls: Object.freeze(tls),
    ...workloadConfig(i),
    ...deviceConfig(i),
  });
}
