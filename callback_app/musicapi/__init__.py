"""MusicAPI: what its messages mean (``protocol``) and the HTTP client that talks to it (``client``)."""
