/**
 * The virtual mapper: simulated sensors for demos and tests, no hardware.
 * Each property's visitor configData chooses a generator:
 *
 * - `generator: random` (default for numeric ReadOnly properties): a random
 *   walk between the model's minimum and maximum (default 0..100);
 * - `generator: sine`, `period` (s, default 60): a sine wave over that range;
 * - `generator: counter`, `step` (default 1): counts up, wrapping at maximum;
 * - `generator: constant`, `value`: always that value.
 *
 * ReadWrite properties hold what was last written (starting from the
 * desired value, else `value`, else minimum): a virtual actuator. A device
 * whose protocol configData says `offline: true` refuses connections, to
 * demo a device that is down. Randomness and time are injectable.
 */
                                                                              
                                                                   
import { MapperError } from '../errors.js';

const GENERATORS = ['random', 'sine', 'counter', 'constant']         ;
                                             

function range(p                  )                   {
  const lo = p.minimum !== undefined && p.minimum !== '' && Number.isFinite(Number(p.minimum)) ? Number(p.minimum) : 0;
  const hi = p.maximum !== undefined && p.maximum !== '' && Number.isFinite(Number(p.maximum)) ? Number(p.maximum) : lo + 100;
  return [lo, Math.max(lo, hi)];
}

function generatorOf(deviceId        , p                  )            {
  const g = p.visitor.configData.generator;
  if (g === undefined) return p.accessMode === 'ReadWrite' || p.type === 'STRING' ? 'constant' : 'random';
  if (typeof g !== 'string' || !(GENERATORS                     ).includes(g)) {
    throw new MapperError('MAPPER_CONFIG_INVALID', `device ${deviceId} property ${p.name}: generator must be one of ${GENERATORS.join(', ')}, got ${JSON.stringify(g)}`);
  }
  return g             ;
}

export function virtualDriver(opts                                                = {})               {
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  return {
    protocols: ['virtual', 'virtualprotocol', 'virtual-protocol'],

    checkProperty(device, p) {
      generatorOf(device.id, p);
    },

    async connect(device                )                            {
      if (device.protocolConfig.offline === true) throw new MapperError('MAPPER_CONNECT_FAILED', `virtual device ${device.id} is configured offline`);
      const held = new Map                                   ();
      const walk = new Map                ();
      const count = new Map                ();
      const lost = new Set                    ();
      const t0 = now();
      return {
        async read(p) {
          if (held.has(p.name)) return held.get(p.name) ;
          const g = generatorOf(device.id, p);
          const [lo, hi] = range(p);
          const c = p.visitor.configData;
          let x        ;
          switch (g) {
            case 'constant': {
              const v = (c.value                                         ) ?? p.desired?.value ?? (p.type === 'BOOLEAN' ? false : p.type === 'STRING' ? '' : lo);
              held.set(p.name, v);
              return v;
            }
            case 'counter': {
              const step = typeof c.step === 'number' ? c.step : 1;
              const n = (count.get(p.name) ?? lo - step) + step;
              x = n > hi ? lo : n;
              count.set(p.name, x);
              break;
            }
            case 'sine': {
              const period = typeof c.period === 'number' && c.period > 0 ? c.period : 60;
              x = lo + ((hi - lo) * (1 + Math.sin((2 * Math.PI * (now() - t0)) / (period * 1000)))) / 2;
              break;
            }
            default: {
              const prev = walk.get(p.name) ?? lo + (hi - lo) * random();
              x = Math.min(hi, Math.max(lo, prev + (hi - lo) * 0.05 * (random() * 2 - 1)));
              walk.set(p.name, x);
            }
          }
          if (p.type === 'BOOLEAN') return x > (lo + hi) / 2;
          return p.type === 'INT' ? Math.round(x) : Math.round(x * 1000) / 1000;
        },
        async write(p, canonical) {
          held.set(p.name, canonical);
        },
        onLost(cb) {
          lost.add(cb);
        },
        async close() {
          lost.clear();
        },
      };
    },
  };
}
