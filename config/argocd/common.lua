-- Shared helpers, inlined at the top of each health.lua by hack/generate-argocd.ts (Argo CD runs one
-- script per kind with the object in the global `obj` and expects the returned table
-- {status = Healthy|Progressing|Degraded|Suspended|Missing|Unknown, message = "..."}).
local function condition(obj, t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end

-- kstatus: a status written for an older generation says nothing about the current spec.
local function stale(obj)
  if obj.status == nil then
    return "Waiting for the controller to write a status"
  end
  local gen = obj.metadata and obj.metadata.generation
  local seen = obj.status.observedGeneration
  if gen ~= nil and (seen == nil or seen < gen) then
    return "Waiting for the controller to observe generation " .. tostring(gen)
  end
  return nil
end

local function said(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  return fallback
end
