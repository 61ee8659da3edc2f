-- Stop creating runs (a run in progress goes on), like a CronJob's spec.suspend.
obj.spec.suspend = true
return obj
