"""Connectors: bring a source system's entities into the landing zone as deliveries.

A connector never loads the warehouse itself. It turns what it reads (PostgreSQL tables,
a REST API, the demo generator) into delivery files in the landing layout, and the
extract assets then validate, quarantine, load and account for them exactly like files
an export job dropped. So every source goes through one ingestion path, and what a
connector delivered can be read, replayed or reloaded from the landing zone.
"""
