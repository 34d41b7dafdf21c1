"""Outbound requests to URLs an untrusted party chose (client metadata documents and their JWK Sets).

Pure policy lives in ``urls`` (what a URL may look like), ``addresses`` (where a connection may go) and
``cache_control`` (how long an answer may be kept); ``fetcher`` is the only module that opens a connection.
"""
