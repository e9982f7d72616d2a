"""The catalog running inside the hub, for every backend: the hot-reloaded catalog (source), the spawn
form (form), options into one plan per spawn (options), capacity and window end (capacity), the
credentials seam (credentials), spawn progress (progress); `mixin.CatalogMixin` puts them together."""
