"""The ClientHello prober: codec (sans I/O), plan (which hellos, pure), probe (sockets)."""
