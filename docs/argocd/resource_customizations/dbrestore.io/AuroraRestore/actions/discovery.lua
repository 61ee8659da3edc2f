-- Argo CD resource actions for dbrestore.io/AuroraRestore.
local actions = {}

local function conditionTrue(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return false
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c.status == "True"
    end
  end
  return false
end

-- A restore runs once per spec generation; `rerun` sets the dbrestore.io/rerun annotation
-- to a new value, which starts a new run without a spec change. Off while a run is in
-- progress (the operator would only queue it) and while the resource is being deleted.
local phase = obj.status and obj.status.phase
local running = conditionTrue("Reconciling")
  or (phase ~= nil and phase ~= "Completed" and phase ~= "Failed")
local deleting = obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil
actions["rerun"] = {
  ["iconClass"] = "fa fa-fw fa-redo",
  ["displayName"] = "Re-run restore",
  ["disabled"] = running or deleting,
}
return actions
