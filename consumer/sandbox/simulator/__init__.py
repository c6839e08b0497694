"""A Noojee PBX over HTTP that behaves as the vendor documents.

- ``server``: the HTTP endpoints and the admin API;
- ``config``: its options; ``state``: its bookkeeping; ``store``: its leads and codes.
"""
