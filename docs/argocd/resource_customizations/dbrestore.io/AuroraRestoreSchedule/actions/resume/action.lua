-- Create runs again from the next scheduled time on.
obj.spec.suspend = false
return obj
