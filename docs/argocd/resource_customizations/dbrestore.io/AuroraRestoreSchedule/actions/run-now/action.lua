-- Ask the operator for a run now: dbrestore.io/run-now set to a new value (the current UTC
-- time). The operator answers each new value once, with spec.concurrencyPolicy applied.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["dbrestore.io/run-now"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
