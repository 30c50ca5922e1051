"""LogiSense's catalog and reference data into a Salesforce price book."""
