"""The streaming path (issue 16, docs/streaming.md): sensor readings over MQTT into the
lake, per-sensor state and the hard sensor rules, level changes published to the serving
store, and their delivery by e-mail and signed webhook.

Modules: :mod:`~riskwarn.stream.payload` (topics, payload), :mod:`~riskwarn.stream.validate`
(batch ingest's rules on a micro-batch), :mod:`~riskwarn.stream.state` (per-sensor state,
site levels), :mod:`~riskwarn.stream.publish` (level changes -> Store),
:mod:`~riskwarn.stream.delivery` (contacts, e-mail, webhook, retries, escalation),
:mod:`~riskwarn.stream.consumer` (the MQTT loop), :mod:`~riskwarn.stream.status` (the
one-line status), :mod:`~riskwarn.stream.replay` (simulated readings into the broker),
:mod:`~riskwarn.stream.auth` (the broker's accounts, password and ACL files).
Kept light: importing the package imports none of them.
"""
