"""The one-machine datalab (`datalab up`): state directory, the services it runs, and their supervision.

Pure decisions (ports, configuration files, argv) live in small modules; `supervisor` does the I/O.
"""
