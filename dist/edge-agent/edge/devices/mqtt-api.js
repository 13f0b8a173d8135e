/**
 * The KubeEdge device-twin MQTT contract on top of the twin
 * (reference/kubeedge.md §5.4), so existing KubeEdge-style device apps and
 * mappers work unchanged:
 *
 * | request topic (app → edge)                  | answer (edge → app)                            |
 * |---------------------------------------------|------------------------------------------------|
 * | `$hw/events/device/<ns>/<name>/twin/update`  | `…/twin/update/result` (+ `…/twin/update/document`, `…/twin/update/delta`) |
 * | `$hw/events/device/<ns>/<name>/twin/get`     | `…/twin/get/result`                            |
 * | `$hw/events/device/<ns>/<name>/state/update` | `…/state/update/result`                        |
 * | `$hw/events/device/<ns>/<name>/state/get`    | `…/state/get/result`                           |
 * | `$hw/events/node/<node>/membership/get`      | `…/membership/get/result`                      |
 *
 * and `$hw/events/node/<node>/membership/updated` when Devices come and go.
 * Every malformed or refused request is answered on its result topic with
 * `{event_id, timestamp, code, reason, error}` (KubeEdge's numeric code,
 * our stable error code); nothing an app sends can throw out of here.
 */
                                               
import { DeviceError } from './errors.js';
                                               
import {
  deltaPayload, documentPayload, errorResult, eventIdOf, membershipResult, membershipUpdated, newEventId, parseGet, parseStateUpdate,
  parseTwinUpdate, stateResult, twinResult,                              
} from './payloads.js';
                                                
import { parseTopic, SUBSCRIPTIONS, topics,              } from './topics.js';
import { toMsgTwin,                                                    } from './twin.js';

export class TwinMqtt {
           #twin            ;
           #bus          ;
           #log        ;
           #now              ;
  #off                          ;
           stats = { requests: 0, errors: 0 };

  constructor(twin            , bus          , log        , now               = Date.now) {
    this.#twin = twin;
    this.#bus = bus;
    this.#log = log.child({ component: 'twin-mqtt' });
    this.#now = now;
  }

  /** Subscribes to the request topics and starts publishing twin events. */
  async start()                {
    this.#off = this.#twin.onEvent((e) => this.#onTwinEvent(e));
    for (const f of SUBSCRIPTIONS) await this.#bus.subscribe(f, (topic, payload) => this.#onMessage(topic, payload));
  }

  /** Stops publishing twin events (the bus is closed by its owner). */
  stop()       {
    this.#off?.();
    this.#off = undefined;
  }

  #publish(topic        , payload        )       {
    this.#bus.publish(topic, payload).catch((err         ) => this.#log.debug('Dropped MQTT publish', { topic, err }));
  }

  #onMessage(topic        , payload        )       {
    let req                     ;
    try {
      req = parseTopic(topic);
    } catch {
      return;
    }
    if (!req) return;
    this.stats.requests++;
    const resultTopic =
      req.kind === 'membership-get' ? topics.membershipGetResult(req.node)
        : req.kind === 'twin-update' ? topics.twinUpdateResult(req.id)
          : req.kind === 'twin-get' ? topics.twinGetResult(req.id)
            : req.kind === 'state-update' ? topics.stateUpdateResult(req.id)
              : topics.stateGetResult(req.id);
    const fail = (err         ) => {
      this.stats.errors++;
      const e = err instanceof DeviceError ? err : new DeviceError('TWIN_STORE_FAILED', `internal error: ${err instanceof Error ? err.message : String(err)}`);
      if (!(err instanceof DeviceError)) this.#log.error('Failed MQTT request', { topic, err });
      else this.#log.debug('Refused MQTT request', { topic, code: e.code, message: e.message });
      this.#publish(resultTopic, errorResult(eventIdOf(payload), e, this.#now()));
    };
    try {
      this.#handle(req, payload, resultTopic).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  async #handle(req         , payload        , resultTopic        )                {
    const now = this.#now;
    switch (req.kind) {
      case 'twin-update': {
        const u = parseTwinUpdate(payload);
        const actual = [];
        const expected = [];
        for (const [name, e] of u.twins) {
          if (e.actual) actual.push({ name, value: e.actual.value, ...(e.actual.timestamp !== undefined ? { timestamp: e.actual.timestamp } : {}) });
          if (e.expected) expected.push({ name, value: e.expected.value, ...(e.expected.timestamp !== undefined ? { timestamp: e.expected.timestamp } : {}) });
        }
        const updated = await this.#twin.update(req.id, { actual, expected });
        this.#publish(resultTopic, twinResult(u.eventId, this.#msgTwins(req.id, updated), now()));
        return;
      }
      case 'twin-get': {
        const { eventId } = parseGet(payload);
        const twins = this.#twin.twin(req.id);
        if (!twins) throw new DeviceError('TWIN_DEVICE_NOT_FOUND', `no device ${req.id} on node ${this.#twin.nodeName}`);
        this.#publish(resultTopic, twinResult(eventId, this.#msgTwins(req.id, twins, true), now()));
        return;
      }
      case 'state-update': {
        const s = parseStateUpdate(payload);
        const r = await this.#twin.setState(req.id, s.state);
        this.#publish(resultTopic, stateResult(s.eventId, { name: req.name, state: r.state, ...(r.lastOnline ? { last_online: r.lastOnline } : {}) }, now()));
        return;
      }
      case 'state-get': {
        const { eventId } = parseGet(payload);
        const st = this.#twin.state(req.id);
        if (!st) throw new DeviceError('TWIN_DEVICE_NOT_FOUND', `no device ${req.id} on node ${this.#twin.nodeName}`);
        this.#publish(resultTopic, stateResult(eventId, { name: req.name, state: st.state, ...(st.lastOnline ? { last_online: st.lastOnline } : {}) }, now()));
        return;
      }
      case 'membership-get': {
        // Another node's request on a shared broker is that node's to answer.
        if (req.node !== this.#twin.nodeName) return;
        const { eventId } = parseGet(payload);
        this.#publish(resultTopic, membershipResult(eventId, this.#twin.devices().map((d) => this.#msgDevice(d)), now()));
        return;
      }
    }
  }

  /** MsgTwins of the given twins (`all`: every property of the device, also those without values). */
  #msgTwins(id        , twins                                   , all = false)                          {
    const spec = this.#twin.device(id);
    const out                          = {};
    const names = all && spec ? spec.properties.map((p) => p.name) : [...twins.keys()];
    for (const n of names) out[n] = toMsgTwin(spec?.properties.find((p) => p.name === n), twins.get(n));
    return out;
  }

  #msgDevice(d                , withTwin = false)            {
    const st = this.#twin.state(d.id);
    return {
      id: d.id, name: d.name, ...(d.description ? { description: d.description } : {}),
      ...(st ? { state: st.state } : {}), ...(st?.lastOnline ? { last_online: st.lastOnline } : {}),
      ...(withTwin ? { twin: this.#msgTwins(d.id, this.#twin.twin(d.id) ?? new Map(), true) } : {}),
    };
  }

  #onTwinEvent(e           )       {
    const now = this.#now();
    switch (e.type) {
      case 'twins': {
        const props = new Map(e.device.properties.map((p) => [p.name, p]));
        const docs                                                                    = {};
        for (const [name, c] of e.changes) {
          docs[name] = { last: c.last ? toMsgTwin(props.get(name), c.last) : null, current: c.current ? toMsgTwin(props.get(name), c.current) : null };
        }
        const eventId = newEventId();
        this.#publish(topics.twinUpdateDocument(e.device.id), documentPayload(eventId, docs, now));
        if (Object.keys(e.delta).length > 0) {
          const twins = this.#twin.twin(e.device.id) ?? new Map                      ();
          this.#publish(topics.twinUpdateDelta(e.device.id), deltaPayload(eventId, this.#msgTwins(e.device.id, twins, true), e.delta, now));
        }
        return;
      }
      case 'membership':
        this.#publish(
          topics.membershipUpdated(this.#twin.nodeName),
          membershipUpdated(newEventId(), e.added.map((d) => this.#msgDevice(d, true)), e.removed.map((d) => ({ id: d.id, name: d.name })), now),
        );
        return;
      case 'state':
      case 'device':
        return;
    }
  }
}
