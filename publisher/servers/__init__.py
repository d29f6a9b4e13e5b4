"""The servers' side: `serve` a directory, `pull` from a CDN, `receive` webhook pushes."""
