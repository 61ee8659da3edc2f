-- Argo CD resource actions for dbrestore.io/AuroraRestoreSchedule.
local actions = {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
local deleting = obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil

-- run-now sets the dbrestore.io/run-now annotation; the operator then creates a child
-- AuroraRestore at once, respecting spec.concurrencyPolicy (like `kubectl create job --from`
-- for a CronJob, it works on a suspended schedule too).
actions["run-now"] = {
  ["iconClass"] = "fa fa-fw fa-play-circle",
  ["displayName"] = "Run a restore now",
  ["disabled"] = deleting,
}
actions["suspend"] = {
  ["iconClass"] = "fa fa-fw fa-pause",
  ["displayName"] = "Suspend schedule",
  ["disabled"] = suspended or deleting,
}
actions["resume"] = {
  ["iconClass"] = "fa fa-fw fa-play",
  ["displayName"] = "Resume schedule",
  ["disabled"] = (not suspended) or deleting,
}
return actions
