"""What the publisher keeps under _publisher/: the manifest, the generations' history, the
marker of the last publish, and the record of organizations a next publish reuses.
"""
