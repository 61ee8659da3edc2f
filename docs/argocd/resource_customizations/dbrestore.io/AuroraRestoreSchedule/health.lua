-- Argo CD health check for dbrestore.io/AuroraRestoreSchedule (Lua 5.1, gopher-lua).
-- Suspended first, then the kstatus conditions (Stalled, Reconciling), then the last run.
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

local function nonEmpty(s)
  return s ~= nil and s ~= ""
end

local status = obj.status or {}

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating"
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Schedule is suspended"
  return hs
end

-- A schedule whose spec the operator rejected makes no runs: that is not healthy.
local stalled = condition(status, "Stalled")
local ready = condition(status, "Ready")
local invalid = ready ~= nil and ready.status == "False" and ready.reason == "InvalidSpec"
if (stalled ~= nil and stalled.status == "True") or invalid then
  hs.status = "Degraded"
  hs.message = (stalled ~= nil and stalled.status == "True" and stalled.message)
    or (invalid and ready.message) or "Invalid schedule spec"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = (nonEmpty(reconciling.message) and reconciling.message) or "Reconciling"
  return hs
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
  if nonEmpty(lastMessage) then
    hs.message = lastMessage
  elseif nonEmpty(status.message) then
    hs.message = status.message
  elseif lastName ~= nil then
    hs.message = "Last restore " .. lastName .. " failed"
  else
    hs.message = "Last restore failed"
  end
  return hs
end

hs.status = "Healthy"
if nonEmpty(status.message) then
  hs.message = status.message
elseif nonEmpty(status.active) then
  hs.message = "Running " .. status.active
elseif status.nextScheduleTime ~= nil then
  hs.message = "Next restore at " .. status.nextScheduleTime
else
  hs.message = "Schedule is active"
end
return hs
