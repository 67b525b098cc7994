"""The service's Prometheus instruments, which every layer above records into and
``monitoring.exposition`` serves. Imports only ``prometheus_client`` (and ``core``)."""
