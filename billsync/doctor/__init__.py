"""``billsync doctor``: checks a deployment end to end, one module per system.

Each module yields :class:`~billsync.doctor.report.CheckResult` values; ``run_all`` runs them in
order (Salesforce, LogiSense, broker, store, clock) and turns an unexpected error inside a check
into a failed check, so that one broken system never hides the others.
"""
