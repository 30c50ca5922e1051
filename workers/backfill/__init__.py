"""The first-day load of records that existed before billsync: source, preview and run."""
