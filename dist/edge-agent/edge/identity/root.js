/**
 * The edge root directory: everything a joined node has, in one place
 * (`outpost join --root DIR` writes it, `outpost edge --root DIR` runs from
 * it, `outpost reset --edge --root DIR` removes it):
 *
 *   DIR/config.yaml    node name, cloud address, CA pin, ports (written last: its presence means "joined")
 *   DIR/pki/ca.crt     the cloud CA (checked against the pin at join)
 *   DIR/pki/node.pem   this node's private key and certificate, in one file so that a
 *                      rotation replaces both with one atomic rename
 *   DIR/data/          the local store (edge.db); never touched by join, re-enrolment or rotation
 *   DIR/token          optional join token for automatic re-enrolment after expiry (0600)
 *   DIR/agent.pid      pid of the running agent
 */
import { X509Certificate } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { isValidNodeName } from '../../lib/join-token.js';
import { IdentityError } from './errors.js';

// `yaml` (≈ 8 MB of RSS) is loaded only when a root directory is read or written, not by every
// edge agent (docs/benchmarks.md, "Edge agent memory"); synchronous, because readRootConfig is.
const yaml = ()                        => createRequire(import.meta.url)('yaml')                         ;

export const rootFiles = {
  config: 'config.yaml',
  pkiDir: 'pki',
  ca: join('pki', 'ca.crt'),
  node: join('pki', 'node.pem'),
  dataDir: 'data',
  token: 'token',
  pid: 'agent.pid',
}         ;

export const defaultRoot = '/var/lib/outpost';

                                                               

/** config.yaml of an edge root. */
                                 
                                    
                         
                   
          
                                                                                        
                    
                                                       
                  
                          
                    
                      
                                 
                        
    
                 
                                                                     
                    
    
                                                                                                                          
                                 
                                                                                               
                           
 

function invalid(root        , msg        )        {
  throw new IdentityError('IDENTITY_ROOT_INVALID', `${join(root, rootFiles.config)}: ${msg}; fix it, or run "outpost join" again (reset with "outpost reset --edge --root ${root} --force")`);
}

function port(root        , field        , v         , optional = false)                     {
  if (v === undefined && optional) return undefined;
  if (!Number.isInteger(v) || (v          ) < 1 || (v          ) > 65535) invalid(root, `${field} must be a port number, got ${JSON.stringify(v)}`);
  return v          ;
}

/** Validates a parsed config.yaml. */
export function checkRootConfig(root        , raw         )                 {
  if (!raw || typeof raw !== 'object') invalid(root, 'is not a YAML mapping');
  const r = raw                                                                                                                                  ;
  if (r.kind !== 'EdgeNodeConfig') invalid(root, `kind must be EdgeNodeConfig, got ${JSON.stringify(r.kind)}`);
  if (!isValidNodeName(r.nodeName)) invalid(root, `nodeName ${JSON.stringify(r.nodeName)} is not a valid node name`);
  const c = r.cloud;
  if (!c || typeof c.address !== 'string' || !c.address) invalid(root, 'cloud.address is required');
  if (typeof c.caPin !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(c.caPin)) invalid(root, 'cloud.caPin must be sha256:<64 hex digits>');
  const protocol = c.protocol ?? 'auto';
  if (!['auto', 'quic', 'websocket'].includes(protocol)) invalid(root, `cloud.protocol must be auto, quic or websocket, got ${JSON.stringify(protocol)}`);
  const quicPort = port(root, 'cloud.quicPort', c.quicPort, true);
  return {
    apiVersion: 'outpost.io/v1alpha1', kind: 'EdgeNodeConfig', nodeName: r.nodeName,
    cloud: {
      address: c.address, caPin: c.caPin, bootstrapPort: port(root, 'cloud.bootstrapPort', c.bootstrapPort) , hubPort: port(root, 'cloud.hubPort', c.hubPort) ,
      ...(quicPort ? { quicPort } : {}), protocol, ...(c.serverName ? { serverName: c.serverName } : {}),
    },
    certificates: { rotate: r.certificates?.rotate ?? true },
    ...(typeof r.runtime?.endpoint === 'string' ? { runtime: { endpoint: r.runtime.endpoint } } : {}),
    ...(typeof r.broker?.url === 'string' ? { broker: { url: r.broker.url } } : {}),
  };
}

/** Reads DIR/config.yaml; undefined when DIR is not joined (no config.yaml). Throws IDENTITY_ROOT_INVALID. */
export function readRootConfig(root        )                             {
  let text        ;
  try {
    text = readFileSync(join(root, rootFiles.config), 'utf8');
  } catch (err) {
    if ((err                         ).code === 'ENOENT' || (err                         ).code === 'ENOTDIR') return undefined;
    throw new IdentityError('IDENTITY_ROOT_INVALID', `cannot read ${join(root, rootFiles.config)}: ${(err         ).message}`, { cause: err });
  }
  let raw         ;
  try {
    raw = yaml().parse(text);
  } catch (err) {
    invalid(root, `is not valid YAML (${(err         ).message})`);
  }
  return checkRootConfig(root, raw);
}

export function renderRootConfig(c                )         {
  return `# Written by "outpost join"; read by "outpost edge --root <this directory>".\n${yaml().stringify(c)}`;
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path        , data        , mode = 0o600)       {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** A node's key and certificate (PEM). */
                                  
               
              
 

/** Splits node.pem into key and certificate. */
export function splitNodePem(pem        )                  {
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  if (!key || !cert) throw new IdentityError('IDENTITY_ROOT_INVALID', 'node.pem must hold a PRIVATE KEY and a CERTIFICATE block');
  return { key, cert };
}

export const joinNodePem = (c                 )         => `${c.key.trimEnd()}\n${c.cert.trimEnd()}\n`;

/** Reads DIR/pki/ca.crt and DIR/pki/node.pem. Throws IDENTITY_ROOT_INVALID. */
export function readRootCredentials(root        )                                   {
  try {
    const ca = readFileSync(join(root, rootFiles.ca), 'utf8');
    return { ca, ...splitNodePem(readFileSync(join(root, rootFiles.node), 'utf8')) };
  } catch (err) {
    if (err instanceof IdentityError) throw new IdentityError('IDENTITY_ROOT_INVALID', `${join(root, rootFiles.node)}: ${err.message}`);
    throw new IdentityError('IDENTITY_ROOT_INVALID', `cannot read the node's certificates under ${join(root, rootFiles.pkiDir)} (${(err                         ).code ?? (err         ).message}); join again with "outpost join --force-reenroll"`, { cause: err });
  }
}

/** Replaces DIR/pki/node.pem in one rename (key and certificate together). */
export function writeNodeCredentials(root        , c                 )       {
  writeFileAtomic(join(root, rootFiles.node), joinNodePem(c), 0o600);
}

/** Validity and subject of a PEM certificate, with node:crypto only (keeps @peculiar/x509 out of the agent). */
export function certificateWindow(certPem        )                                                                                      {
  const x = new X509Certificate(certPem);
  return {
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    commonName: /^CN=(.*)$/m.exec(x.subject)?.[1],
    sans: (x.subjectAltName ?? '').split(/,\s*/).filter(Boolean),
  };
}

/** Reads DIR/token (for automatic re-enrolment), if there is one. */
export function readRootToken(root        )                     {
  try {
    return readFileSync(join(root, rootFiles.token), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function removeRootToken(root        )       {
  rmSync(join(root, rootFiles.token), { force: true });
}

export function writeRootToken(root        , token        )       {
  writeFileAtomic(join(root, rootFiles.token), `${token}\n`, 0o600);
}

/** Pid file helpers for the agent. */
export function writePidFile(root        )       {
  writeFileSync(join(root, rootFiles.pid), `${process.pid}\n`, { mode: 0o644 });
}

export function readPidFile(root        )                     {
  try {
    const pid = Number(readFileSync(join(root, rootFiles.pid), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function removePidFile(root        )       {
  const pid = readPidFile(root);
  if (pid === process.pid) rmSync(join(root, rootFiles.pid), { force: true });
}

/** Whether a process with `pid` is alive. */
export function processAlive(pid        )          {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err                         ).code === 'EPERM';
  }
}
