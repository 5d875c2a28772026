"""The data layer: the catalog, the shipped bundle of exercises, the user's
places and the language. No screen code, no torch."""
