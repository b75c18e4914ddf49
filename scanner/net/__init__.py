"""The network edge: resolvers, connect and handshake, AIA fetching, the error classifier."""
