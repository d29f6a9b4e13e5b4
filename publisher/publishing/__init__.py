"""The publish algorithm (SPEC §5): load and render, look at the target, plan, take the
lock, upload, delete, record, purge and push; one `PublishRun` carries it.
"""
