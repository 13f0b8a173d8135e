// Object keys name one Kubernetes object on the wire and in the edge store:
//
//   v1/<Kind>/<namespace>/<name>                  core group, e.g. v1/ConfigMap/default/app
//   <group>/<version>/<Kind>/<namespace>/<name>   e.g. devices.kubeedge.io/v1beta1/Device/plant/pump-1
//
// Cluster-scoped objects have an empty namespace segment (v1/Node//edge-1).
// Unlike KubeEdge's `<ns>/<type>/<name>` resource paths the key carries the
// full GVK, so the edge never guesses a group from a lower-case type name.
// The segment count (4 or 5) decides the form: a Kind starts with an upper-case
// letter and a version never does, so the two forms cannot be confused.
import { ProtocolError } from './errors.js';

/** The parts of an object key. `group` is '' for the core group, `namespace` '' for cluster-scoped objects. */
                            
                
                  
               
                    
               
 

const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/; // DNS-1123 label
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/; // DNS-1123 subdomain
const CORE_VERSION = /^v[0-9]+(?:(?:alpha|beta)[0-9]+)?$/; // the core group has only "v1" today
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;
// Kubernetes allows any path segment name except "." and ".." and names
// containing "/" or "%"; we also keep out spaces and control characters
// (the inventory digest separates fields with a tab).
const NAME = /^[\x21-\x24\x26-\x2e\x30-\x7e]{1,253}$/;

/** Longest possible key: 253 + 63 + 63 + 63 + 253 characters plus 4 slashes. */
export const MAX_KEY_LENGTH = 699;

/** Why `key` is not a valid object key, or undefined when it is. Never throws. */
export function keyProblem(key         )                     {
  if (typeof key !== 'string') return 'a string';
  if (key.length > MAX_KEY_LENGTH) return `at most ${MAX_KEY_LENGTH} characters`;
  const parts = key.split('/');
  if (parts.length !== 4 && parts.length !== 5) return 'an object key "[group/]version/Kind/namespace/name"';
  const [group, version, kind, namespace, name] = parts.length === 5 ? parts : ['', ...parts];
  if (group !== '' && !SUBDOMAIN.test(group )) return 'a key whose group is a DNS subdomain (e.g. "apps", "devices.kubeedge.io")';
  if (group === '' && !CORE_VERSION.test(version )) return 'a core-group key "v1/Kind/namespace/name" (or a 5-part key with a group)';
  if (!LABEL.test(version )) return 'a key whose version is a DNS label (e.g. "v1", "v1beta1")';
  if (!KIND.test(kind )) return 'a key whose Kind is PascalCase (e.g. "ConfigMap")';
  if (namespace !== '' && !LABEL.test(namespace )) return 'a key whose namespace is a DNS label or empty (cluster-scoped)';
  if (!NAME.test(name ) || name === '.' || name === '..') return 'a key whose name is 1..253 printable characters without "/", "%" or spaces';
  return undefined;
}

/**
 * Splits a key into its parts. Pure; throws ProtocolError PROTO_INVALID_FIELD
 * (field "key") when the key is malformed.
 */
export function parseKey(key        )            {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new ProtocolError('PROTO_INVALID_FIELD', `key: expected ${problem}`, { field: 'key' });
  const parts = key.split('/');
  const [group, version, kind, namespace, name] = (parts.length === 5 ? parts : ['', ...parts])                                            ;
  return { group, version, kind, namespace, name };
}

/**
 * Builds the key for an object. Pure; throws ProtocolError
 * PROTO_INVALID_FIELD when a part is malformed (so the result always parses).
 */
export function formatKey(ref           )         {
  const key = `${ref.group === '' ? '' : `${ref.group}/`}${ref.version}/${ref.kind}/${ref.namespace}/${ref.name}`;
  parseKey(key);
  return key;
}
