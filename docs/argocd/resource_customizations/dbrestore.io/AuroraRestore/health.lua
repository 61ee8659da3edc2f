-- Argo CD health check for dbrestore.io/AuroraRestore (Lua 5.1, gopher-lua).
-- Reads the kstatus conditions first (Stalled, Reconciling, Ready), like Flux and kpt do;
-- the Failed/Progressing mirrors and the phase are a fallback for operators older than them.
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

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function nonEmpty(s)
  return s ~= nil and s ~= ""
end

local function first(...)
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if nonEmpty(s) then
      return s
    end
  end
  return nil
end

local status = obj.status or {}

-- Being deleted: the operator stops the run and, with deletionPolicy Delete, cleans up.
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating" .. (nonEmpty(status.message) and (": " .. status.message) or "")
  return hs
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

-- A new spec generation the operator has not picked up yet: the rest of the status is stale.
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil
    and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
local reconciling = condition(status, "Reconciling")
local ready = condition(status, "Ready")
local failed = condition(status, "Failed")
local progressing = condition(status, "Progressing")
local errorMessage = status.error and status.error.message

if isTrue(stalled) or (stalled == nil and (isTrue(failed) or status.phase == "Failed")) then
  hs.status = "Degraded"
  hs.message = first(errorMessage, (stalled or failed or {}).message, status.message) or "Restore failed"
  return hs
end

if isTrue(reconciling) or (reconciling == nil and isTrue(progressing)) then
  hs.status = "Progressing"
  hs.message = first(status.message, (reconciling or progressing).message) or "Restore in progress"
  return hs
end

if isTrue(ready) or (ready == nil and status.phase == "Completed") then
  hs.status = "Healthy"
  hs.message = first(status.message, (ready or {}).message) or "Restore completed"
  return hs
end

hs.status = "Progressing"
if nonEmpty(status.message) then
  hs.message = status.message
elseif status.phase ~= nil then
  hs.message = "Phase " .. status.phase
else
  hs.message = "Waiting for the operator"
end
return hs
