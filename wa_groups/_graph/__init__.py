"""The Graph API's protocol, with no I/O: limits and endpoints, argument checks, error codes and decoders.

``endpoints`` (limits, the endpoint table, request bodies), ``checks`` (arguments), ``errors`` (the error-code
table), ``convert`` (the one cattrs converter) and ``decode`` (answers into models). Nothing here imports aiohttp,
opens a file or knows about another backend.
"""
