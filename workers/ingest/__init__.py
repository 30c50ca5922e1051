"""The streaming ingest: Salesforce change events in, confirmed messages out, with cursors, re-
reads, parking and the push endpoint.
"""
