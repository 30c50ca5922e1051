"""A local Salesforce org for tests, the demo and benchmarks: REST, SOQL, CDC over CometD."""

from simulators.salesforce.server import SalesforceSimulator, main

__all__ = ["SalesforceSimulator", "main"]
