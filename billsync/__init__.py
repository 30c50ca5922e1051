"""billsync: Salesforce to LogiSense Billing sync."""
