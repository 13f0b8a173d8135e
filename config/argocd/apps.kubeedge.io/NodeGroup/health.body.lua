-- NodeGroup: Ready=True → Healthy; Ready=False → Degraded (a node could not be selected, or members
-- are not Ready: edge nodes offline); no Ready yet or an old generation → Progressing.
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Removing the group's labels from its nodes"
  return hs
end
local wait = stale(obj)
if wait ~= nil then
  hs.status = "Progressing"
  hs.message = wait
  return hs
end
local ready = condition(obj, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready, "All members ready")
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = said(ready, "Not ready")
else
  hs.status = "Progressing"
  hs.message = said(ready, "Readiness unknown")
end
return hs
