-- EdgeApplication: Degraded=True → Degraded (the message names each failing field or API call);
-- Progressing=True → Progressing; Available=True → Healthy; old generation → Progressing.
local hs = {}
local wait = stale(obj)
if wait ~= nil then
  hs.status = "Progressing"
  hs.message = wait
  return hs
end
local degraded = condition(obj, "Degraded")
local progressing = condition(obj, "Progressing")
local available = condition(obj, "Available")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = said(degraded, "Degraded")
elseif progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = said(progressing, "Rolling out")
elseif available ~= nil and available.status == "True" then
  hs.status = "Healthy"
  hs.message = said(available, "Available")
elseif available ~= nil and available.status == "False" then
  hs.status = "Degraded"
  hs.message = said(available, "Not available")
else
  hs.status = "Progressing"
  hs.message = "Waiting for the Available condition"
end
return hs
