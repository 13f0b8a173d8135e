// A Device and its DeviceModel, as the edge stores them, resolved into the
// one view the twin and the mappers work from: which properties the device
// has (the Device's, then the model's it does not list), each property's
// type, access mode, range, visitor config (the Device's overrides the
// model's) and cycles in milliseconds, and the protocol config (the Device's
// configData over the model's protocolConfigData). Pure.
                                                              
import { cycleMs, DEFAULT_REPORT_CYCLE_MS, deviceReportCycleMs } from '../protocol/device-reports.js';
import { propertyType,                   } from './coerce.js';

export const DEVICE_API_VERSION = 'devices.kubeedge.io/v1beta1';

/** Protocol key of a Device (`devices.kubeedge.io/v1beta1/Device/<ns>/<name>`). */
export function deviceKey(namespace        , name        )         {
  return `${DEVICE_API_VERSION}/Device/${namespace}/${name}`;
}

/** Protocol key of a DeviceModel. */
export function modelKey(namespace        , name        )         {
  return `${DEVICE_API_VERSION}/DeviceModel/${namespace}/${name}`;
}

/** KubeEdge device id (since v1.16): `<namespace>/<name>`; it is also the two topic segments. */
export function deviceId(namespace        , name        )         {
  return `${namespace}/${name}`;
}

                                                  

                                   
               
                     
                         
                   
                   
                
                                                                                     
                                                                          
                         
                        
                                                                
                         
                                                 
                                                                
                                                                          
                   
 

                                 
                              
             
              
                    
               
               
                      
                       
                    
                                                                         
                      
                                                                             
                       
                                          
                                 
                                                                 
                                                              
                          
 

/** Defaults a mapper uses when a property sets no cycle (KubeEdge mapper-framework: 1 s). */
export const DEFAULT_COLLECT_CYCLE_MS = 1000;

function record(v         )                          {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v                           ) : {};
}

function stringRecord(v         )                         {
  const out                         = {};
  for (const [k, x] of Object.entries(record(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Resolves a Device against its model (undefined while the model is missing). Pure. */
export function resolveDevice(device        , model                         )                 {
  const namespace = device.metadata.namespace ?? '';
  const name = device.metadata.name ?? '';
  const spec = device.spec ?? ({}                  );
  const modelProps = new Map((model?.spec?.properties ?? []).map((p) => [p.name, p]));
  const out                     = [];
  const seen = new Set        ();
  for (const dp of spec.properties ?? []) {
    if (!dp?.name || seen.has(dp.name)) continue;
    seen.add(dp.name);
    const mp = modelProps.get(dp.name);
    const visitors = dp.visitors ?? mp?.visitors;
    out.push({
      name: dp.name,
      type: propertyType(mp?.type),
      accessMode: mp?.accessMode === 'ReadOnly' ? 'ReadOnly' : 'ReadWrite',
      ...(mp?.minimum !== undefined ? { minimum: mp.minimum } : {}),
      ...(mp?.maximum !== undefined ? { maximum: mp.maximum } : {}),
      ...(mp?.unit !== undefined ? { unit: mp.unit } : {}),
      visitor: { ...(visitors?.protocolName ? { protocolName: visitors.protocolName } : {}), configData: { ...record(mp?.visitors?.configData), ...record(dp.visitors?.configData) } },
      collectCycleMs: cycleMs(dp.collectCycle, DEFAULT_COLLECT_CYCLE_MS),
      reportCycleMs: cycleMs(dp.reportCycle, DEFAULT_REPORT_CYCLE_MS),
      reportToCloud: dp.reportToCloud !== false,
      ...(typeof dp.desired?.value === 'string' ? { desired: { value: dp.desired.value, metadata: stringRecord(dp.desired.metadata) } } : {}),
      inModel: mp !== undefined,
    });
  }
  for (const mp of model?.spec?.properties ?? []) {
    if (!mp?.name || seen.has(mp.name)) continue;
    seen.add(mp.name);
    out.push({
      name: mp.name,
      type: propertyType(mp.type),
      accessMode: mp.accessMode === 'ReadOnly' ? 'ReadOnly' : 'ReadWrite',
      ...(mp.minimum !== undefined ? { minimum: mp.minimum } : {}),
      ...(mp.maximum !== undefined ? { maximum: mp.maximum } : {}),
      ...(mp.unit !== undefined ? { unit: mp.unit } : {}),
      visitor: { ...(mp.visitors?.protocolName ? { protocolName: mp.visitors.protocolName } : {}), configData: { ...record(mp.visitors?.configData) } },
      collectCycleMs: DEFAULT_COLLECT_CYCLE_MS,
      reportCycleMs: DEFAULT_REPORT_CYCLE_MS,
      reportToCloud: true,
      inModel: true,
    });
  }
  return {
    id: deviceId(namespace, name),
    key: deviceKey(namespace, name),
    namespace,
    name,
    ...(device.metadata.uid ? { uid: device.metadata.uid } : {}),
    ...(device.metadata.generation !== undefined ? { generation: device.metadata.generation } : {}),
    ...(typeof device.metadata.annotations?.description === 'string' ? { description: device.metadata.annotations.description } : {}),
    modelName: spec.deviceModelRef?.name ?? '',
    modelFound: model !== undefined,
    protocolName: spec.protocol?.protocolName ?? model?.spec?.protocol ?? '',
    protocolConfig: { ...record(model?.spec?.protocolConfigData), ...record(spec.protocol?.configData) },
    properties: out,
    stateReport: { reportToCloud: spec.stateReport?.reportToCloud !== false, reportCycleMs: cycleMs(spec.stateReport?.reportCycle, 0) },
    // from the Device spec alone, exactly as the cloud computes it (controllers/device)
    upstreamCycleMs: deviceReportCycleMs(spec),
  };
}
