-- Device: a Ready condition, when present, decides. Otherwise Outpost's device controller's
-- conditions: Online (the mapper reaches the device) and Synced (the node holds the desired values).
-- Online=False → Degraded (offline or unhealthy); Online Unknown because no node is assigned →
-- Suspended (nothing to run); node not ready or no state yet → Progressing; Synced=False →
-- Progressing (desired values on their way); Online=True and Synced not False → Healthy.
local hs = {}
local wait = stale(obj)
if wait ~= nil then
  hs.status = "Progressing"
  hs.message = wait
  return hs
end
local ready = condition(obj, "Ready")
if ready ~= nil and ready.status ~= "Unknown" then
  if ready.status == "True" then hs.status = "Healthy" else hs.status = "Degraded" end
  hs.message = said(ready, "Ready is " .. ready.status)
  return hs
end
local online = condition(obj, "Online")
local synced = condition(obj, "Synced")
if online ~= nil and online.status == "False" then
  hs.status = "Degraded"
  hs.message = said(online, "Device offline")
elseif online ~= nil and online.status == "Unknown" and online.reason == "NotAssigned" then
  hs.status = "Suspended"
  hs.message = said(online, "Not assigned to a node")
elseif online == nil or online.status ~= "True" then
  hs.status = "Progressing"
  hs.message = said(online, "Waiting for the device's state")
elseif synced ~= nil and synced.status == "False" then
  hs.status = "Progressing"
  hs.message = said(synced, "Desired values pending")
else
  hs.status = "Healthy"
  hs.message = said(online, "Online")
end
return hs
