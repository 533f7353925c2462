"""Data sets of the image trainable: loaders (host, numpy) and their cached on-device splits."""
