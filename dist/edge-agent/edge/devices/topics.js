// The KubeEdge MQTT topic contract (reference/kubeedge.md §5.4; KubeEdge
// edge/pkg/devicetwin/dtcommon). Device ids are `<namespace>/<name>` (KubeEdge
// >= 1.16), so device topics have two id segments. Pure.

export const DEVICE_PREFIX = '$hw/events/device/';
export const NODE_PREFIX = '$hw/events/node/';

/** What the twin subscribes to: twin update/get, state update/get, and the node's membership get. */
export const SUBSCRIPTIONS = ['$hw/events/device/+/+/twin/+', '$hw/events/device/+/+/state/+', '$hw/events/node/+/membership/get']         ;

const dev = (id        , suffix        ) => `${DEVICE_PREFIX}${id}${suffix}`;
const node = (n        , suffix        ) => `${NODE_PREFIX}${n}${suffix}`;

/** Topic builders; `id` is `<namespace>/<name>`. */
export const topics = {
  twinUpdate: (id        ) => dev(id, '/twin/update'),
  twinUpdateResult: (id        ) => dev(id, '/twin/update/result'),
  twinUpdateDelta: (id        ) => dev(id, '/twin/update/delta'),
  twinUpdateDocument: (id        ) => dev(id, '/twin/update/document'),
  twinGet: (id        ) => dev(id, '/twin/get'),
  twinGetResult: (id        ) => dev(id, '/twin/get/result'),
  stateUpdate: (id        ) => dev(id, '/state/update'),
  stateUpdateResult: (id        ) => dev(id, '/state/update/result'),
  stateGet: (id        ) => dev(id, '/state/get'),
  stateGetResult: (id        ) => dev(id, '/state/get/result'),
  membershipGet: (n        ) => node(n, '/membership/get'),
  membershipGetResult: (n        ) => node(n, '/membership/get/result'),
  membershipUpdated: (n        ) => node(n, '/membership/updated'),
}         ;

/** An inbound request, by topic. */
                     
                                                                                                                    
                                             

const requests                                                                            = {
  'twin/update': 'twin-update',
  'twin/get': 'twin-get',
  'state/update': 'state-update',
  'state/get': 'state-get',
};

/**
 * Parses an inbound topic. Returns undefined for topics that are not
 * requests (results, deltas and documents we publish ourselves, KubeEdge's
 * internal `twin/cloud_updated` / `twin/edge_updated`, anything else).
 */
export function parseTopic(topic        )                      {
  if (topic.startsWith(DEVICE_PREFIX)) {
    const parts = topic.slice(DEVICE_PREFIX.length).split('/');
    if (parts.length !== 4) return undefined;
    const [namespace, name, a, b] = parts                                    ;
    const kind = requests[`${a}/${b}`];
    if (!kind || !namespace || !name) return undefined;
    return { kind, id: `${namespace}/${name}`, namespace, name };
  }
  if (topic.startsWith(NODE_PREFIX)) {
    const parts = topic.slice(NODE_PREFIX.length).split('/');
    if (parts.length === 3 && parts[0] && parts[1] === 'membership' && parts[2] === 'get') return { kind: 'membership-get', node: parts[0] };
  }
  return undefined;
}

/**
 * MQTT topic filter matching (MQTT 3.1.1 §4.7): `+` one level, `#` the rest
 * (including the parent level); filters starting with a wildcard never
 * match topics starting with `$`. Pure.
 */
export function topicMatches(filter        , topic        )          {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const seg = f[i] ;
    if (seg === '#') return true;
    if (i >= t.length) return false;
    if (seg !== '+' && seg !== t[i]) return false;
  }
  return f.length === t.length;
}
