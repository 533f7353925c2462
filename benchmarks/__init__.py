"""Benchmarks, the demo and the command line: the places that wire llm_search and trainables together."""
