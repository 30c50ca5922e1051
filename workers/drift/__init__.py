"""Drift between the store, LogiSense and Salesforce: found, compared and repaired."""
