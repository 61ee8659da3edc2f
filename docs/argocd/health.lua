-- Argo CD health check for dbrestore.io/AuroraRestore (Lua 5.1, gopher-lua).
-- Install as resource.customizations.health.dbrestore.io_AuroraRestore in argocd-cm.
local hs = {}

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

-- A new spec generation the operator has not picked up yet: the phase is stale.
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local failed = condition(status, "Failed")
if phase == "Failed" or (phase == nil and failed ~= nil and failed.status == "True") then
  hs.status = "Degraded"
  if status.error ~= nil and status.error.message ~= nil and status.error.message ~= "" then
    hs.message = status.error.message
  elseif status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  else
    hs.message = "Restore failed"
  end
  return hs
end

local ready = condition(status, "Ready")
if phase == "Completed" or (ready ~= nil and ready.status == "True") then
  hs.status = "Healthy"
  if status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  else
    hs.message = "Restore completed"
  end
  return hs
end

hs.status = "Progressing"
if status.message ~= nil and status.message ~= "" then
  hs.message = status.message
elseif phase ~= nil then
  hs.message = "Phase " .. phase
else
  hs.message = "Waiting for the operator"
end
return hs
