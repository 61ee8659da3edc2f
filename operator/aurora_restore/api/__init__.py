"""The resource contract, written once: names, models, rules, and the CRD renderer."""
