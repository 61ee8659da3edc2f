-- Set dbrestore.io/rerun to a new value (the current UTC time): the operator starts a new
-- run with a new operation id; the previous run stays in status.history.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["dbrestore.io/rerun"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
