"""The HTTP side: webhooks from the monitoring tools (sources/), the operator API (api/),
the PagerDuty and Slack callbacks (callbacks/), the console (ui/), and the writer of the
hand-off streams the workers read. Stands on core/ and never imports workers/
(docs/architecture.md). Start reading at app.py, then webhooks.py.
"""
