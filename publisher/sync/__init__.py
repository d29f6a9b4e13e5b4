"""Sync documents to a target: plan (pure), apply, lock, manifest, the publish algorithm."""
