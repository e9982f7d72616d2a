"""Tests of the spawner package: catalog, launch plans, pods."""
