"""The lab and the hostile peers: real servers on loopback for `scanner demo` and the tests."""
