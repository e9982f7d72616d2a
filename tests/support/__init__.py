"""Test support: the Kubernetes API emulator and fixtures that run the real services on 127.0.0.1."""
