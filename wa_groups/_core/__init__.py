"""The backend-neutral core shared by every client.

Pure modules: ``request`` (endpoint tables and request values), ``coerce`` (lenient scalar reading), ``wire``
(JSON bodies, ``Retry-After``, statuses), ``retry`` (the retry policy and decision) and ``gate`` (how a bulk
job's admission control reaches the transport). I/O modules: ``transport`` (the one module that uses aiohttp's
client), ``shell`` (the client lifecycle every backend shares) and ``files`` (reading a file named by path).
Nothing here knows a backend.
"""
