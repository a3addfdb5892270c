"""The scripted OpenAI-compatible HTTP server (server) that the tests and benchmarks judge through."""
