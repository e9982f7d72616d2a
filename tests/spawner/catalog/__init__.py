"""Tests of spawner.catalog: loading, resolution, validation of submitted options."""
