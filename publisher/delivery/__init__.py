"""After the documents are live: purge the CDN, push to webhooks, sign what is pushed."""
