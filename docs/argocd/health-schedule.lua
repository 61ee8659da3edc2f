-- Argo CD health check for dbrestore.io/AuroraRestoreSchedule (Lua 5.1, gopher-lua).
-- Install as resource.customizations.health.dbrestore.io_AuroraRestoreSchedule in argocd-cm.
local hs = {}

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Schedule is suspended"
  return hs
end

local status = obj.status or {}

-- A schedule whose spec the operator rejected makes no runs: that is not healthy.
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" and condition.status == "False" and condition.reason == "InvalidSpec" then
      hs.status = "Degraded"
      hs.message = condition.message or "Invalid schedule spec"
      return hs
    end
  end
end

-- lastResult is either a phase string or an object {name, phase|result, message}.
local last = status.lastResult
local lastPhase = last
local lastMessage = nil
local lastName = nil
if type(last) == "table" then
  lastPhase = last.phase or last.result
  lastMessage = last.message
  lastName = last.name
end

if lastPhase == "Failed" then
  hs.status = "Degraded"
  if lastMessage ~= nil and lastMessage ~= "" then
    hs.message = lastMessage
  elseif status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  elseif lastName ~= nil then
    hs.message = "Last restore " .. lastName .. " failed"
  else
    hs.message = "Last restore failed"
  end
  return hs
end

hs.status = "Healthy"
if status.message ~= nil and status.message ~= "" then
  hs.message = status.message
elseif status.active ~= nil and status.active ~= "" then
  hs.message = "Running " .. status.active
elseif status.nextScheduleTime ~= nil then
  hs.message = "Next restore at " .. status.nextScheduleTime
else
  hs.message = "Schedule is active"
end
return hs
